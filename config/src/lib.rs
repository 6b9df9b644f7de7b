//! The typed configuration file of preview-bot (SPEC section 10) and the secrets it reads from
//! the environment (SPEC section 9).
//!
//! One TOML file; every table uses `deny_unknown_fields` so a typo is an error, not a silent
//! default. Errors name the file, the key and the problem.

pub mod access;
pub mod cron;
mod duration;
mod error;
mod model;
mod secrets;
mod status;
pub mod template;

pub use access::{AccessConfig, OncallConfig};
pub use cron::CronSchedule;
pub use duration::ConfigDuration;
pub use error::ConfigError;
pub use model::*;
pub use secrets::{GitHubAuth, Secret, Secrets};
pub use status::{StatusAccess, StatusConfig};

use std::path::Path;

impl Config {
    /// Reads, parses and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        config
            .validate()
            .map_err(|(key, problem)| ConfigError::Invalid {
                file: file.to_string(),
                key,
                problem,
            })?;
        Ok(config)
    }
}
