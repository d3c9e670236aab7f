//! What a run leaves for people to read: the scenario counter behind the closing line, the
//! run's record (every scenario with its steps, timeline and measurements), and the files
//! written from it under `--report DIR`.

pub mod closing_line;
pub mod counter;
pub mod coverage;
pub mod cucumber_json;
pub mod html;
pub mod junit;
pub mod markup;
pub mod plots;
pub mod redact;
pub mod statement;
pub mod summary;

pub use counter::ScenarioCounter;
pub use summary::Failure;

/// The text of a panic payload (a failed hook's), as cucumber shows a step's.
pub fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}
