//! hookd's integration tests: one binary, driving the real server over HTTP.

mod support;

mod auth;
mod backlog;
mod browser;
mod crash;
mod delivery;
mod docs;
mod events;
mod golden;
mod group_commit;
mod hooks;
mod hostile;
mod http;
mod identity;
mod instances;
mod interactions;
mod layers;
mod logs;
mod metrics;
mod plans;
mod policy;
mod receiver;
mod schema;
mod sealed;
mod ssrf;
mod startup;
mod subscriptions;
mod tenant_keys;
mod traces;
