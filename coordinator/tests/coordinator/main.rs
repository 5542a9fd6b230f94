//! Integration tests of the coordinator over real gRPC, a real SQLite file
//! (or PostgreSQL database: `scripts/with-postgres`)
//! and a real (embedded) S3 server. One test binary, split by topic.

mod common;

mod auth;
mod dashboard;
mod failures;
mod http;
mod inputs;
mod jobs;
mod limits;
mod postgres_tls;
mod presign;
mod retry;
mod schedules;
mod scheduling;
mod series;
mod several;
