//! A plan (TOML or JSON): parsing and validating it never panics, whatever the text.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tandem::dispatch::Dispatcher;
use tandem::scheduler::Plan;

fuzz_target!(|text: &str| {
    static DISPATCHER: OnceLock<Dispatcher> = OnceLock::new();
    let dispatcher = DISPATCHER.get_or_init(Dispatcher::default);
    for plan in [
        toml::from_str::<Plan>(text).ok(),
        serde_json::from_str::<Plan>(text).ok(),
    ]
    .into_iter()
    .flatten()
    {
        let _ = plan.validate(dispatcher);
    }
});
