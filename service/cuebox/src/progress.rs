//! A progress bar for the command line's long steps (embedding the photos of an import or an
//! enrollment), drawn on stderr only when it is a terminal: pipes, logs and the daemon never see it.

use std::io::{IsTerminal, Write};

const WIDTH: usize = 30;

pub struct Progress {
    label: &'static str,
    total: usize,
    done: usize,
    drawn: bool,
}

impl Progress {
    /// A bar for `total` steps, drawn when `wanted` and stderr is a terminal.
    pub fn new(label: &'static str, total: usize, wanted: bool) -> Self {
        let drawn = wanted && total > 0 && std::io::stderr().is_terminal();
        let progress = Self { label, total, done: 0, drawn };
        progress.draw();
        progress
    }

    /// One more step done.
    pub fn advance(&mut self) {
        self.done = (self.done + 1).min(self.total);
        self.draw();
    }

    fn draw(&self) {
        if self.drawn {
            let mut stderr = std::io::stderr().lock();
            // A progress bar that cannot be drawn is not worth failing the import for.
            let _ = write!(stderr, "\r{}", self.line()).and_then(|()| stderr.flush());
        }
    }

    /// "enrolling photos [#########.....................] 3/10"
    fn line(&self) -> String {
        let filled = (WIDTH * self.done).checked_div(self.total).unwrap_or(WIDTH);
        format!("{} [{}{}] {}/{}", self.label, "#".repeat(filled), ".".repeat(WIDTH - filled), self.done, self.total)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_steps_done() {
        let mut progress = Progress::new("enrolling photos", 3, false);
        assert_eq!(progress.line(), format!("enrolling photos [{}] 0/3", ".".repeat(WIDTH)));
        progress.advance();
        assert_eq!(progress.line(), format!("enrolling photos [{}{}] 1/3", "#".repeat(10), ".".repeat(20)));
        for _ in 0..5 {
            progress.advance();
        }
        assert_eq!(progress.line(), format!("enrolling photos [{}] 3/3", "#".repeat(WIDTH)));
    }

    #[test]
    fn nothing_is_drawn_unless_wanted() {
        assert!(!Progress::new("enrolling photos", 3, false).drawn);
        assert!(!Progress::new("enrolling photos", 0, true).drawn);
    }
}
