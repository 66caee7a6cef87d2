//! The page as HTML: one Handlebars template (`page.html.hbs`, compiled in), which escapes every
//! value, so a record or a dead letter holding markup shows as text.

use std::sync::LazyLock;

use handlebars::Handlebars;

use super::Page;

/// The template, registered once.
static TEMPLATE: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry
        .register_template_string("page", include_str!("page.html.hbs"))
        .expect("the page template is checked by the tests");
    registry
});

/// The page as an HTML document.
pub fn render(page: &Page) -> Result<String, handlebars::RenderError> {
    TEMPLATE.render("page", page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{AlertRow, Cell, DeadRow, FeedRow, QueueRow, SeriesRow};

    #[test]
    fn every_section_renders_and_values_are_escaped() {
        let page = Page {
            pipeline: "demo".to_owned(),
            backend: "local".to_owned(),
            generated_at: "2026-11-28T12:00:00Z".to_owned(),
            columns: vec!["price".to_owned()],
            series: vec![SeriesRow {
                key: "<b>INFY</b>".to_owned(),
                sort: None,
                cells: vec![Cell {
                    value: "1667.5".to_owned(),
                    change: Some("+27.5 (+1.68 %)".to_owned()),
                    direction: "up",
                }],
                chart: "/chart/INFY.png".to_owned(),
            }],
            alerts: vec![AlertRow {
                at: "2026-11-28T11:00:00Z".to_owned(),
                rule: "big_move".to_owned(),
                kind: "fired",
                series: "INFY".to_owned(),
                subject: "INFY moved".to_owned(),
            }],
            alerts_window: "7 days".to_owned(),
            dead: vec![DeadRow {
                id: "m1".to_owned(),
                receives: 1,
                reason: "no price".to_owned(),
                body: "{}".to_owned(),
            }],
            dead_total: 3,
            queue: Some(QueueRow {
                visible: 4,
                in_flight: 0,
                dead: 3,
            }),
            feeds: vec![FeedRow {
                feed: "symbol=<i>X</i>".to_owned(),
                polled_at: "2026-11-28T11:59:00Z".to_owned(),
                age: "1 min ago".to_owned(),
                outcome: "http_4xx".to_owned(),
                records: 0,
                last_ok: "never".to_owned(),
                quota: "0 / 500 (0 %)".to_owned(),
                quota_remaining: Some(0),
                quota_limit: Some(500),
                state: "failed",
                note: None,
                quota_low: true,
            }],
            ..Page::default()
        };
        let html = render(&page).unwrap();
        assert!(html.contains("&lt;b&gt;INFY&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>INFY"));
        assert!(html.contains(r#"<span class="change up">+27.5 (+1.68 %)</span>"#));
        assert!(html.contains("INFY moved"));
        assert!(html.contains("1 of 3 shown"));
        assert!(html.contains(r#"<img src="/chart/INFY.png""#));
        assert!(
            html.contains(r#"<tr data-feed="symbol&#x3D;&lt;i&gt;X&lt;/i&gt;" class="failed">"#),
            "{html}"
        );
        assert!(html.contains(r#"<td class="num low">0 / 500 (0 %)</td>"#));
    }

    #[test]
    fn an_empty_pipeline_says_so() {
        let html = render(&Page::default()).unwrap();
        assert!(html.contains("Nothing stored yet."));
        assert!(html.contains("No dead letters."));
        assert!(html.contains("The queue could not be read."));
        assert!(html.contains("No poll recorded yet"));
        assert!(!html.contains("no longer in the pipeline"));
    }

    #[test]
    fn feeds_taken_out_of_the_pipeline_are_counted_not_listed() {
        let page = Page {
            feeds_removed: 2,
            ..Page::default()
        };
        let html = render(&page).unwrap();
        assert!(
            html.contains("No poll of the pipeline's feeds recorded yet."),
            "{html}"
        );
        assert!(
            html.contains("2 feed(s) polled before are no longer in the pipeline and not listed.")
        );
        assert!(!html.contains("No poll recorded yet"));
    }
}
