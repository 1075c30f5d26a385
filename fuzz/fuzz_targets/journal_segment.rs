#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| flowex_fuzz::journal_segment(data));
