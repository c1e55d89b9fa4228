//! Kubernetes resource quantities (`500m`, `1`, `256Mi`, `1.5Gi`, `1e3`): checked like the API
//! server's parser and read as plain numbers (cores, bytes) to compare and convert.

/// The value of a quantity in base units (cores for CPU, bytes for memory), or why it is not one.
pub fn parse(text: &str) -> Result<f64, String> {
    let bad =
        || format!("`{text}` is not a Kubernetes quantity (e.g. `500m`, `2`, `256Mi`, `1Gi`)");
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number.matches('.').count() > 1 || number == "." {
        return Err(bad());
    }
    let sign_ok = number
        .char_indices()
        .all(|(i, c)| !(c == '+' || c == '-') || i == 0);
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !sign_ok {
        return Err(bad());
    }
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().map_err(|_| bad())?;
            10f64.powi(power)
        }
        _ => return Err(bad()),
    };
    Ok(value * scale)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn quantities_read_as_the_api_server_reads_them() {
        assert_eq!(parse("500m"), Ok(0.5));
        assert_eq!(parse("2"), Ok(2.0));
        assert_eq!(parse("256Mi"), Ok(256.0 * 1024.0 * 1024.0));
        assert_eq!(parse("1.5Gi"), Ok(1.5 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse("1e3"), Ok(1000.0));
        for bad in ["", "Mi", "1.2.3", "12MB", "1-2", "abc", "--1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
