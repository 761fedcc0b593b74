// Starts GraphiQL against this server's /graphql, over HTTP for queries and mutations and over
// WebSocket (graphql-transport-ws) for subscriptions. The token comes from `?token=` (then
// leaves the address bar) or from the dashboard's session in this tab.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("hookd-token", params.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  const token = sessionStorage.getItem("hookd-token");
  const authorization = token ? { Authorization: `Bearer ${token}` } : {};
  const socket = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const fetcher = GraphiQL.createFetcher({
    url: `${location.origin}/graphql`,
    headers: authorization,
    wsClient: graphqlWs.createClient({
      url: socket,
      lazy: true,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    }),
  });
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: "# Every field is documented: open the Docs panel on the left.\n{\n  viewer { tenant scopes }\n  hooks(first: 10) { totalCount edges { node { id name url events enabled } } }\n}\n",
  }));
})();
