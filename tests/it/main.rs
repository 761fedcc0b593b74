//! hookd's integration tests: one binary, driving the real server over HTTP.

mod support;

mod auth;
mod delivery;
mod hooks;
mod http;
mod receiver;
mod schema;
mod startup;
