use thiserror::Error;

/// Why a config file was refused. Every variant names the file; semantic errors name the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config file: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: `{key}`: {problem}")]
    Invalid {
        file: String,
        key: String,
        problem: String,
    },
    #[error("environment: `{variable}`: {problem}")]
    Secret { variable: String, problem: String },
}
