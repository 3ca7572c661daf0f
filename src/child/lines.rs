//! A child's output, read line by line with bounds: a line longer than [`MAX_LINE_BYTES`] is handed over in
//! pieces of that size (output without newlines cannot grow memory), bytes that are not UTF-8 are replaced (one
//! such line must not stop the reader and leave the child blocked on a full pipe), and a read error ends the
//! stream like its end does.
use std::io::{BufRead, BufReader, ErrorKind, Read};

/// The longest line kept whole.
pub const MAX_LINE_BYTES: usize = 4096;

/// Calls `on_line` with each line of `stream` (without its line break), until the stream ends.
pub fn for_each_line(stream: impl Read, mut on_line: impl FnMut(String)) {
    let mut reader = BufReader::new(stream);
    let mut line: Vec<u8> = Vec::new();
    let mut emit = |line: &mut Vec<u8>| {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        on_line(String::from_utf8_lossy(line).into_owned());
        line.clear();
    };
    loop {
        let buffer = match reader.fill_buf() {
            Ok([]) => break,
            Ok(buffer) => buffer,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let room = MAX_LINE_BYTES - line.len();
        let window = &buffer[..buffer.len().min(room)];
        match window.iter().position(|byte| *byte == b'\n') {
            Some(newline) => {
                line.extend_from_slice(&window[..newline]);
                reader.consume(newline + 1);
                emit(&mut line);
            }
            None => {
                let taken = window.len();
                line.extend_from_slice(window);
                reader.consume(taken);
                if line.len() >= MAX_LINE_BYTES {
                    emit(&mut line);
                }
            }
        }
    }
    if !line.is_empty() {
        emit(&mut line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for_each_line(bytes, |line| lines.push(line));
        lines
    }

    #[test]
    fn long_lines_come_in_pieces_and_bad_bytes_do_not_stop_the_reader() {
        let mut bytes = vec![b'a'; MAX_LINE_BYTES * 2 + 10];
        bytes.extend_from_slice(b"\nbad \xff\xfe byte\r\nlast");
        let lines = lines(&bytes);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(lines[2].len(), 10);
        assert_eq!(lines[3], "bad \u{fffd}\u{fffd} byte");
        assert_eq!(lines[4], "last");
    }
}
