//! A tiny built-in 3×5 bitmap font for contact-sheet labels (no font files
//! are needed). Upper-case letters, digits and a little punctuation; lower
//! case is drawn upper case, anything else as `?`.

/// Rows of 3 pixels, top to bottom, `1` = ink.
fn glyph(c: char) -> &'static str {
    match c.to_ascii_uppercase() {
        'A' => "010101111101101",
        'B' => "110101110101110",
        'C' => "011100100100011",
        'D' => "110101101101110",
        'E' => "111100110100111",
        'F' => "111100110100100",
        'G' => "011100101101011",
        'H' => "101101111101101",
        'I' => "111010010010111",
        'J' => "001001001101010",
        'K' => "101101110101101",
        'L' => "100100100100111",
        'M' => "101111111101101",
        'N' => "110101101101101",
        'O' => "010101101101010",
        'P' => "110101110100100",
        'Q' => "010101101110011",
        'R' => "110101110101101",
        'S' => "011100010001110",
        'T' => "111010010010010",
        'U' => "101101101101111",
        'V' => "101101101101010",
        'W' => "101101111111101",
        'X' => "101101010101101",
        'Y' => "101101010010010",
        'Z' => "111001010100111",
        '0' => "111101101101111",
        '1' => "010110010010111",
        '2' => "110001010100111",
        '3' => "110001010001110",
        '4' => "101101111001001",
        '5' => "111100110001110",
        '6' => "011100111101111",
        '7' => "111001010010010",
        '8' => "111101111101111",
        '9' => "111101111001110",
        '.' => "000000000000010",
        ',' => "000000000010100",
        '-' => "000000111000000",
        '_' => "000000000000111",
        ':' => "000010000010000",
        '=' => "000111000111000",
        '/' => "001001010100100",
        '+' => "000010111010000",
        '(' => "010100100100010",
        ')' => "010001001001010",
        ' ' => "000000000000000",
        _ => "110001010000010",
    }
}

/// Pixels a character advances at `scale`.
pub(crate) fn advance(scale: usize) -> usize {
    4 * scale
}

/// Height of a line of text at `scale`.
pub(crate) fn height(scale: usize) -> usize {
    5 * scale
}

/// Calls `ink(x, y)` for every pixel of `text` drawn at (`x0`, `y0`).
pub(crate) fn draw(
    text: &str,
    x0: usize,
    y0: usize,
    scale: usize,
    mut ink: impl FnMut(usize, usize),
) {
    for (i, c) in text.chars().enumerate() {
        let gx = x0 + i * advance(scale);
        for (bit, b) in glyph(c).bytes().enumerate() {
            if b != b'1' {
                continue;
            }
            let (col, row) = (bit % 3, bit / 3);
            for dy in 0..scale {
                for dx in 0..scale {
                    ink(gx + col * scale + dx, y0 + row * scale + dy);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_are_complete_and_drawn() {
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,-_:=/+() ?".chars() {
            assert_eq!(glyph(c).len(), 15, "{c}");
        }
        let mut n = 0;
        draw("I", 0, 0, 2, |_, _| n += 1);
        assert_eq!(n, 9 * 4);
    }
}
