//! Diagnostics: every error and warning found while reading a configuration, each tied to
//! the file and line it comes from, so that `corelb -c` can print them all at once.

use std::fmt;
use std::sync::Arc;

/// Where a configuration item was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: u32,
}

impl Loc {
    pub fn new(file: &Arc<str>, line: u32) -> Self {
        Loc {
            file: file.clone(),
            line,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    /// `.notice` in the configuration: printed, counted as neither.
    Notice,
}

#[derive(Clone, Debug)]
pub struct Diag {
    pub loc: Option<Loc>,
    pub level: Level,
    pub msg: String,
}

impl fmt::Display for Diag {
    /// Errors read `FILE:LINE: message`; warnings `FILE:LINE: warning: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        match self.level {
            Level::Warning => f.write_str("warning: ")?,
            Level::Notice => f.write_str("notice: ")?,
            Level::Error => {}
        }
        f.write_str(&self.msg)
    }
}

/// The list of diagnostics collected while loading.
#[derive(Default, Debug)]
pub struct Diags {
    pub list: Vec<Diag>,
}

impl Diags {
    pub fn error(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.list.push(Diag {
            loc: Some(loc.clone()),
            level: Level::Error,
            msg: msg.into(),
        });
    }

    pub fn warn(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.list.push(Diag {
            loc: Some(loc.clone()),
            level: Level::Warning,
            msg: msg.into(),
        });
    }

    pub fn notice(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.list.push(Diag {
            loc: Some(loc.clone()),
            level: Level::Notice,
            msg: msg.into(),
        });
    }

    /// An error that belongs to no single line (e.g. a file that cannot be read).
    pub fn error_global(&mut self, msg: impl Into<String>) {
        self.list.push(Diag {
            loc: None,
            level: Level::Error,
            msg: msg.into(),
        });
    }

    pub fn errors(&self) -> usize {
        self.list.iter().filter(|d| d.level == Level::Error).count()
    }

    pub fn warnings(&self) -> usize {
        self.list
            .iter()
            .filter(|d| d.level == Level::Warning)
            .count()
    }

    /// Whether `loc` already has an error: a follow-up error on the same line (e.g. "no
    /// certificate" after the certificate failed to load) would only repeat it.
    pub fn has_error_at(&self, loc: &Loc) -> bool {
        self.list
            .iter()
            .any(|d| d.level == Level::Error && d.loc.as_ref() == Some(loc))
    }

    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }
}
