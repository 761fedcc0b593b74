// Verifies the signatures of one hookd delivery with Go's standard library only.
//
// Usage: go run verify.go < input.json
// The input is one JSON object: {"body": "<the exact body>", "headers": {"webhook-id": ...,
// "webhook-timestamp": ..., "webhook-signature": ..., "logto-signature-sha-256": ...},
// "signingKey": "whsec_..." or null, "publicKey": "whpk_..." or null, "now": <Unix seconds>}.
// It prints `logto=… standard=… ed25519=…` (each ok, bad or absent) and exits 0 when at least
// one signature is present and every signature present verifies, 1 otherwise.
// docs/delivery.md shows the Verify function below; tests/it/docs.rs runs this file.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// docs:begin verify
import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
)

// Reject a webhook-timestamp further than this from now, in either direction (replays).
const toleranceSeconds = 5 * 60

// Result is "ok", "bad" or "absent" for each scheme.
type Result struct {
	Logto, Standard, Ed25519 string
}

// Verify checks a delivery. body is the raw request body; headers has lower-case names;
// signingKey is the hook's `whsec_…` key and publicKey its `whpk_…` key ("" when you have
// none); now is Unix seconds.
func Verify(body []byte, headers map[string]string, signingKey, publicKey string, now int64) Result {
	result := Result{Logto: "absent", Standard: "absent", Ed25519: "absent"}

	// Logto: hex HMAC-SHA256 of the body, keyed by the whole key string (`whsec_` included).
	if logto, found := headers["logto-signature-sha-256"]; found {
		mac := hmac.New(sha256.New, []byte(signingKey))
		mac.Write(body)
		expected := hex.EncodeToString(mac.Sum(nil))
		result.Logto = verdict(signingKey != "" && hmac.Equal([]byte(expected), []byte(logto)))
	}

	// Standard Webhooks: space-separated entries, one per active key, over "{id}.{timestamp}.{body}".
	var v1, v1a []string
	for _, entry := range strings.Split(headers["webhook-signature"], " ") {
		if strings.HasPrefix(entry, "v1,") {
			v1 = append(v1, strings.TrimPrefix(entry, "v1,"))
		} else if strings.HasPrefix(entry, "v1a,") {
			v1a = append(v1a, strings.TrimPrefix(entry, "v1a,"))
		}
	}
	id := headers["webhook-id"]
	timestamp := headers["webhook-timestamp"]
	digits := timestamp != "" && strings.Trim(timestamp, "0123456789") == ""
	seconds, err := strconv.ParseInt(timestamp, 10, 64)
	age := now - seconds
	fresh := id != "" && digits && err == nil && age <= toleranceSeconds && age >= -toleranceSeconds
	signed := append([]byte(id+"."+timestamp+"."), body...)

	if len(v1) > 0 {
		result.Standard = verdict(fresh && signingKey != "" && hmacVerifies(signingKey, signed, v1))
	}
	if len(v1a) > 0 {
		result.Ed25519 = verdict(fresh && publicKey != "" && ed25519Verifies(publicKey, signed, v1a))
	}
	return result
}

// hmacVerifies says whether one of the base64 `v1,` signatures is the HMAC of signed.
func hmacVerifies(signingKey string, signed []byte, signatures []string) bool {
	secret, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(signingKey, "whsec_"))
	if err != nil {
		return false // not a whsec_ key
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(signed)
	expected := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, signature := range signatures {
		if hmac.Equal([]byte(expected), []byte(signature)) {
			return true
		}
	}
	return false
}

// ed25519Verifies says whether the `whpk_…` key verifies one of the base64 `v1a,` signatures.
func ed25519Verifies(publicKey string, signed []byte, signatures []string) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(publicKey, "whpk_"))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return false // not an Ed25519 public key
	}
	for _, signature := range signatures {
		raw, err := base64.StdEncoding.DecodeString(signature)
		if err == nil && ed25519.Verify(ed25519.PublicKey(key), signed, raw) {
			return true
		}
	}
	return false
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "bad"
}
// docs:end verify

type input struct {
	Body       string             `json:"body"`
	Headers    map[string]*string `json:"headers"`
	SigningKey *string            `json:"signingKey"`
	PublicKey  *string            `json:"publicKey"`
	Now        int64              `json:"now"`
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "cannot read the input:", err)
		os.Exit(2)
	}
	headers := map[string]string{}
	for name, value := range in.Headers {
		if value != nil {
			headers[strings.ToLower(name)] = *value
		}
	}
	signingKey, publicKey := "", ""
	if in.SigningKey != nil {
		signingKey = *in.SigningKey
	}
	if in.PublicKey != nil {
		publicKey = *in.PublicKey
	}
	result := Verify([]byte(in.Body), headers, signingKey, publicKey, in.Now)
	fmt.Printf("logto=%s standard=%s ed25519=%s\n", result.Logto, result.Standard, result.Ed25519)
	present, allOK := 0, true
	for _, r := range []string{result.Logto, result.Standard, result.Ed25519} {
		if r != "absent" {
			present++
			allOK = allOK && r == "ok"
		}
	}
	if present == 0 || !allOK {
		os.Exit(1)
	}
}
