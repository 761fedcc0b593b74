#!/usr/bin/env bash
# Rebuilds the GraphiQL files hookd serves at /graphiql (src/http/graphiql/assets/) from the
# packages pinned in package.json and package-lock.json. The files are committed, so building
# or running hookd never needs Node.js; run this only to upgrade GraphiQL:
#   edit the versions in package.json, `npm install` here, then `bash tools/graphiql/build.sh`.
# The same lockfile gives byte-identical files (they are copied from the packages as published,
# which the lockfile's integrity hashes pin); SHA256SUMS records them and a test checks it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../src/http/graphiql/assets"
cd "$here"
npm ci --no-audit --no-fund --ignore-scripts
mkdir -p "$out"
rm -f "$out"/*
copy() { sed -e '/^\/\/# sourceMappingURL=/d' "node_modules/$1" > "$out/$2"; }
copy react/umd/react.production.min.js react.production.min.js
copy react-dom/umd/react-dom.production.min.js react-dom.production.min.js
copy graphql-ws/umd/graphql-ws.min.js graphql-ws.min.js
copy graphiql/graphiql.min.js graphiql.min.js
sed -e 's|/\*# sourceMappingURL=.*\*/||' node_modules/graphiql/graphiql.min.css > "$out/graphiql.min.css"
for package in react react-dom graphql-ws graphiql; do
  node -e "const p=require('./node_modules/$package/package.json'); console.log(p.name + '@' + p.version + ' ' + p.license)"
done > "$out/VERSIONS"
(cd "$out" && sha256sum *.js *.css VERSIONS > SHA256SUMS)
echo "wrote $(ls "$out" | wc -l) files to src/http/graphiql/assets"
