//! The raw serde file model (YAML or JSON): exactly the keys docs/CONFIG.md lists,
//! `deny_unknown_fields` everywhere, human durations ("29s", "50ms", "2m").
//! Written by the config work.
