//! Phone-number detection: runs of 7 to 15 digits, optionally starting with `+` and grouped
//! by spaces, hyphens or parentheses (`+91 98765 43210`, `(080) 2345-6789`, `09061701461`).

/// A phone-number-like run of digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneMatch {
    /// The digits only, with a leading `+` if it was written.
    pub digits: String,
    /// Byte offset of the match in the text.
    pub start: usize,
    /// Byte offset just past the match.
    pub end: usize,
}

impl PhoneMatch {
    /// Number of digits.
    pub fn digit_count(&self) -> usize {
        self.digits.chars().filter(char::is_ascii_digit).count()
    }
}

const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

/// Find phone-number-like digit runs. A run glued to a letter (an order code like `ORD12345678`)
/// is not a phone number; a run of more than 15 digits is split at its spaces.
pub fn find_phone_numbers(text: &str) -> Vec<PhoneMatch> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_number = bytes[i].is_ascii_digit()
            || (matches!(bytes[i], b'+' | b'(')
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        let glued = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if !starts_number || glued {
            i += 1;
            continue;
        }
        // Extend over digits and single separators between digits.
        let start = i;
        let mut end = i + 1;
        let mut j = i + 1;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                j += 1;
                end = j;
            } else if is_separator(b) {
                // At most two separators (") ", " -") between digit groups.
                let gap = if bytes.get(j + 1).copied().is_some_and(is_separator) {
                    2
                } else {
                    1
                };
                if bytes.get(j + gap).is_some_and(u8::is_ascii_digit) {
                    j += gap;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        let glued_after = bytes.get(end).is_some_and(|b| b.is_ascii_alphabetic());
        if !glued_after {
            push_runs(text, start, end, &mut found);
        }
        i = end.max(i + 1);
    }
    found
}

fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'(' | b')')
}

fn push_runs(text: &str, start: usize, end: usize, found: &mut Vec<PhoneMatch>) {
    let run = &text[start..end];
    let digits = run.bytes().filter(u8::is_ascii_digit).count();
    if digits <= MAX_DIGITS {
        if digits >= MIN_DIGITS {
            found.push(PhoneMatch {
                digits: run
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect(),
                start,
                end,
            });
        }
        return;
    }
    // Too long for one number: several numbers separated by spaces.
    let mut offset = start;
    for part in run.split(' ') {
        let part_start = offset;
        offset += part.len() + 1;
        let n = part.bytes().filter(u8::is_ascii_digit).count();
        if (MIN_DIGITS..=MAX_DIGITS).contains(&n) {
            found.push(PhoneMatch {
                digits: part
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect(),
                start: part_start,
                end: part_start + part.len(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(text: &str) -> Vec<String> {
        find_phone_numbers(text)
            .into_iter()
            .map(|m| m.digits)
            .collect()
    }

    #[test]
    fn finds_indian_and_uk_formats() {
        assert_eq!(digits("call +91 98765 43210 now"), ["+919876543210"]);
        assert_eq!(digits("ring 09061701461."), ["09061701461"]);
        assert_eq!(digits("office (080) 2345-6789"), ["08023456789"]);
    }

    #[test]
    fn ignores_prices_years_and_codes() {
        assert!(digits("Rs 1500 per kg, since 2019").is_empty());
        assert!(digits("order ORD12345678 shipped").is_empty());
    }

    #[test]
    fn splits_lists_of_numbers() {
        assert_eq!(
            digits("9876543210 9876543211"),
            ["9876543210", "9876543211"]
        );
    }
}
