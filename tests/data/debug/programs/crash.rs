// Crashes the way `tests/data/debug/regenerate.sh` asks: `crash index|unwrap|divide|err`.
use std::collections::HashMap;

fn pick(items: &[u32], at: usize) -> u32 {
    items[at]
}

fn lookup(table: &HashMap<&str, u32>, key: &str) -> u32 {
    *table.get(key).unwrap()
}

fn ratio(total: u32, parts: u32) -> u32 {
    total / parts
}

fn parse_port(text: &str) -> u16 {
    text.parse::<u16>().expect("the port is a number")
}

fn run(kind: &str) -> u32 {
    let items = vec![1, 2, 3];
    let table = HashMap::from([("a", 1)]);
    let parts = std::env::args().count() as u32 - 2;
    match kind {
        "index" => pick(&items, items.len() + 4),
        "unwrap" => lookup(&table, "missing"),
        "divide" => ratio(10, parts),
        _ => u32::from(parse_port("eighty")),
    }
}

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_default();
    println!("starting {kind}");
    println!("{}", run(&kind));
}
