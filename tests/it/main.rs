//! hookd's integration tests: one binary, driving the real server over HTTP.

mod support;

mod auth;
mod hooks;
mod http;
mod schema;
mod startup;
