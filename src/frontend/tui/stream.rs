//! A live stream that is not a process's output (`events -f`, `maintail -f` typed in the
//! command bar): shown in the output pane in place of the selected process's output, with
//! the command bar still there. Esc, or any other command, ends it. The follow receiver
//! lives in the loop (`mod.rs`), which feeds chunks here. Owned by the dashboard thread.

use super::tail::TailLines;
use crate::output::Stream;

pub struct StreamView {
    /// The command line that opened it: the pane's title.
    pub title: String,
    pub lines: TailLines,
    /// Lines scrolled back from the newest; 0 follows.
    pub scroll: usize,
    /// The stream was closed by taskmaster (it is shutting down): nothing more comes.
    pub ended: bool,
}

impl StreamView {
    pub fn new(title: String, lines: TailLines) -> StreamView {
        StreamView {
            title,
            lines,
            scroll: 0,
            ended: false,
        }
    }

    /// New lines; a pane scrolled back stays on what the user reads.
    pub fn push(&mut self, stream: Stream, data: &[u8]) {
        let before = self.lines.pushed();
        self.lines.push(stream, data);
        if self.scroll > 0 {
            self.scroll += (self.lines.pushed() - before) as usize;
        }
    }
}
