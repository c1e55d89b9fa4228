//! What the agents that read code share (LINTER, SECURITY, SECURITYAUDITOR, CRYPTOEXPERT): reading a granted tree with every
//! input bounded ([`tree`]), byte offsets turned into the line and column editors show
//! ([`position`]), the finding every rule reports ([`finding`]) and its SARIF 2.1.0 form ([`sarif`]),
//! the input pieces both take ([`input`]), globs that leave files out ([`glob`]), the parsers
//! behind features ([`parse`]), trend fitting for DEBUGGER and OPTIMIZER ([`fit`]), times
//! ([`time`]), and the critical path method for OPTIMIZER's and PROJECTORCHESTRATOR's plans
//! ([`critical`]).

pub mod critical;
pub mod finding;
pub mod fit;
pub mod glob;
pub mod input;
pub mod parse;
pub mod position;
pub mod sarif;
pub mod time;
pub mod tree;

pub use finding::{Finding, Severity, Summary, fingerprint};
pub use input::{Format, InlineFile};
pub use position::LineIndex;
pub use tree::{Skipped, SourceFile, Tree, TreeLimits, io_error};
