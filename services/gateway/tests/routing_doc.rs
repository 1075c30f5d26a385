//! docs/ARCHITECTURE.md shows the gateway's routing table of distributed
//! mode; this test keeps that copy equal to `routes::UPSTREAMS`. On a
//! difference it prints the table to paste between the markers.

use flowex_gateway::routes::UPSTREAMS;

const BEGIN: &str = "<!-- routing-table:begin -->\n";
const END: &str = "<!-- routing-table:end -->";

fn rendered() -> String {
    let mut table = String::from("| path | service |\n|---|---|\n");
    for (pattern, upstream) in UPSTREAMS {
        table.push_str(&format!("| `{pattern}` | {} |\n", upstream.name()));
    }
    table
}

#[test]
fn architecture_doc_shows_the_routing_table_in_use() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ARCHITECTURE.md");
    let doc = std::fs::read_to_string(path).expect("docs/ARCHITECTURE.md");
    let start = doc.find(BEGIN).expect("routing-table:begin marker") + BEGIN.len();
    let end = doc.find(END).expect("routing-table:end marker");
    let expected = rendered();
    assert!(
        doc[start..end] == expected,
        "docs/ARCHITECTURE.md's routing table is stale; put this between the markers:\n{expected}"
    );
}
