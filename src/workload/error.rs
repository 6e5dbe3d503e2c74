//! Why a workload file cannot be used: every error names the file, and the field when there is
//! one, so a bad file fails before any node starts with a message that says what to fix.

/// A workload that failed to load or validate.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The text is not valid TOML.
    #[error("{file}:{line}: not valid TOML: {message}")]
    Syntax {
        /// Where the text came from (a path or `builtin:NAME`).
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// A field is missing, unknown, of the wrong type or out of range.
    #[error("{file}: field \"{field}\": {message}")]
    Field {
        /// Where the text came from.
        file: String,
        /// The field's path, e.g. `mix.read` or `checkers[0].model`.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The name is not a built-in workload and no file by that name could be read.
    #[error("workload {name:?} is not a built-in workload ({builtins}) and could not be read as a file: {error}")]
    NotFound {
        /// What the user passed to `--workload`.
        name: String,
        /// The built-in names, comma-separated.
        builtins: String,
        /// Why reading it as a file failed.
        error: std::io::Error,
    },
}
