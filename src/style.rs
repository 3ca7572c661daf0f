//! Colour for people at a terminal: success, warning, error and refusal words, styled only when the stream they
//! are printed on is a terminal (or colour is forced), never in a pipe, a file, a CI log, JSON, step outputs or
//! the step summary. The decision is anstream's (NO_COLOR, CLICOLOR, CLICOLOR_FORCE, TERM=dumb, is a TTY), under
//! the `--color` flag; this file holds the one palette. A leaf.
use anstream::{AutoStream, ColorChoice};
use anstyle::{AnsiColor, Style};

/// `--color`: auto follows the terminal and NO_COLOR / CLICOLOR_FORCE; always and never override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Set once by `main` from `--color`, before anything is printed.
pub fn set(when: ColorWhen) {
    let choice = match when {
        ColorWhen::Auto => ColorChoice::Auto,
        ColorWhen::Always => ColorChoice::AlwaysAnsi,
        ColorWhen::Never => ColorChoice::Never,
    };
    choice.write_global();
}

/// The stream a styled text is about to be printed on: whether it may be coloured depends on it.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn colored(self) -> bool {
        let choice = match self {
            Stream::Stdout => AutoStream::choice(&std::io::stdout()),
            Stream::Stderr => AutoStream::choice(&std::io::stderr()),
        };
        choice != ColorChoice::Never
    }
}

/// What a line says, which decides its colour.
#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Success,
    Notice,
    Warning,
    Error,
    Refusal,
}

impl Tone {
    fn style(self) -> Style {
        match self {
            Tone::Success => AnsiColor::Green.on_default().bold(),
            Tone::Notice => AnsiColor::Cyan.on_default(),
            Tone::Warning => AnsiColor::Yellow.on_default().bold(),
            Tone::Error => AnsiColor::Red.on_default().bold(),
            Tone::Refusal => AnsiColor::Magenta.on_default().bold(),
        }
    }
}

/// `text` in the tone's colour when `stream` is coloured, else unchanged.
pub fn paint(stream: Stream, tone: Tone, text: &str) -> String {
    paint_if(stream.colored(), tone, text)
}

/// `line` with its leading `label` (like `error:`) painted, when it starts with it.
pub fn label(stream: Stream, tone: Tone, label: &str, line: &str) -> String {
    match line.strip_prefix(label) {
        Some(rest) => format!("{}{rest}", paint(stream, tone, label)),
        None => line.to_string(),
    }
}

fn paint_if(colored: bool, tone: Tone, text: &str) -> String {
    if colored {
        let style = tone.style();
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_left_unchanged_and_coloured_text_is_reset_after() {
        assert_eq!(paint_if(false, Tone::Error, "error:"), "error:");
        assert_eq!(paint_if(true, Tone::Error, "error:"), "\x1b[1m\x1b[31merror:\x1b[0m");
    }
}
