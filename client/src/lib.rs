//! `stylefarm-client`: the farm seen from a client, as a library the CLI and
//! the end-to-end tests share.
//!
//! Layout:
//! - `farm`: [`Farm`], a connection to a coordinator: upload, submit, watch,
//!   get, list, cancel, download.
//! - `submit`: [`LocalJob`], a job of local files, and how it is checked,
//!   uploaded and submitted.
//! - `masks`: region maps (semantic style transfer, doodles) checked before
//!   upload.
//! - `deliver`: a finished job's outputs on disk, named for people, with a
//!   `manifest.json` ([`Farm::deliver`]).
//! - `embedded`: [`EmbeddedFarm`], coordinator + S3 server + workers in this
//!   process (what `stylefarm render` runs on).
//! - `error`: [`ClientError`].

mod deliver;
mod embedded;
mod error;
mod farm;
mod files;
mod masks;
mod schedules;
mod submit;

pub use deliver::{
    Delivery, ManifestEntry, ManifestStyle, is_output_file, is_picture_file, pair_name, plan,
    warping_error_line,
};
pub use embedded::{BUCKET, EmbeddedFarm, default_data_dir, default_db_url, stopped};
pub use error::{ClientError, Result};
pub use farm::{Farm, is_terminal, state_name, task_state_name};
pub use stylefarm_proto::connect::Connection;
pub use submit::{LocalJob, label};
