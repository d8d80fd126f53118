//! Discord: every Dodo Payments payment, refund, dispute, subscription and
//! license key event becomes a message in a Discord channel, posted to a
//! channel webhook: a one-line `content` plus one embed (a coloured title,
//! the facts as inline fields, longer texts in the description, the event
//! time), which can never mention anyone.
//!
//! The mapping is the table in this crate's README.md; what each event says
//! comes from `hookwasm_sdk::notice`.

use hookwasm_sdk::notice::{self, Fact, Notice, Tone};
use hookwasm_sdk::prelude::*;
use hookwasm_sdk::text::{allot, escaped_len, fit, fit_with, utf16_len};
use hookwasm_sdk::url::with_query_param;

/// Discord's limits (Execute Webhook, Embed Limits), in characters.
mod limit {
    /// The message `content`.
    pub const CONTENT: usize = 2_000;
    /// An embed's `title`.
    pub const TITLE: usize = 256;
    /// An embed's `description`.
    pub const DESCRIPTION: usize = 4_096;
    /// Fields per embed.
    pub const FIELDS: usize = 25;
    /// A field's `name` and `value`.
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1_024;
    /// An embed's `footer.text`.
    pub const FOOTER: usize = 2_048;
    /// Title, description, field names and values, footer and author of
    /// all embeds of a message together.
    pub const EMBEDS_TOTAL: usize = 6_000;
    /// The embed `url` (the dashboard link). Not in Discord's documentation:
    /// the common 2,048 characters of a URL.
    pub const URL: usize = 2_048;
}

/// The setting holding the dashboard link template.
const DASHBOARD_URL: &str = "dashboard_url";

/// The Discord plugin.
pub struct Discord;

hookwasm_sdk::plugin!(
    Discord,
    name = "discord",
    description = "Dodo Payments events to Discord messages (channel webhook, embeds)",
    form = include_str!("../form.json"),
);

impl Plugin for Discord {
    fn transform(event: &Event) -> Result<Outcome, Error> {
        let event_type = event.event_type.as_str();
        if !notice::handles(event_type) {
            return Ok(skip(event_type));
        }
        // The webhook URL (id and token) is the credential: no default.
        let url = event.require_endpoint_url()?;
        let dodo = event.envelope()?;
        let Some(notice) = notice::notice(event_type, &dodo)? else {
            return Ok(skip(event_type));
        };
        let link = match event.setting(DASHBOARD_URL) {
            Some(template) => notice::link(DASHBOARD_URL, template, event_type, &dodo)?,
            None => None,
        };
        // `wait=true`: Discord answers once the message is saved (200 with
        // the message), and with an error when it is not; without it, it
        // answers 204 at once and "a message that is not saved does not
        // return an error". Other query parameters (`thread_id`) are kept.
        // No idempotency key: Discord's webhooks have none.
        Ok(Request::post(with_query_param(url, "wait", "true"))
            .json(message(&notice, link))
            .into())
    }
}

fn skip(event_type: &str) -> Outcome {
    Outcome::skip(format!(
        "discord has no message for {event_type}: it posts {}",
        notice::FAMILIES
    ))
}

/// Backslash-escapes Discord's markdown characters, so that payload text is
/// shown as written: no bold or strike-through, no masked `[links](…)`
/// (escaping the brackets is enough), no `<@mentions>`, `<t:timestamps>`
/// or headings.
fn escape(c: char) -> Option<&'static str> {
    Some(match c {
        '\\' => "\\\\",
        '*' => "\\*",
        '_' => "\\_",
        '~' => "\\~",
        '`' => "\\`",
        '|' => "\\|",
        '>' => "\\>",
        '<' => "\\<",
        '[' => "\\[",
        ']' => "\\]",
        '#' => "\\#",
        _ => return None,
    })
}

/// A fact's value, escaped (an identifier as inline code, where markdown is
/// not read) and cut to `max`.
fn value(fact: &Fact, max: usize) -> String {
    if fact.id {
        // A backtick inside an identifier would end the code span.
        let id = fact.value.replace('`', "'");
        format!("`{}`", fit(&id, max.saturating_sub(2)))
    } else {
        fit_with(&fact.value, max, escape)
    }
}

/// What a fact's value needs at most.
fn want(fact: &Fact) -> usize {
    let natural = if fact.id {
        utf16_len(&fact.value) + 2
    } else {
        escaped_len(&fact.value, escape)
    };
    natural.min(limit::FIELD_VALUE)
}

/// `**Label**\n`, a longer text's heading in the description.
fn heading(detail: &Fact) -> String {
    format!("**{}**\n", detail.label)
}

/// Between two longer texts in the description.
const BETWEEN: &str = "\n\n";

/// An embed colour per tone (Slack's green, red and amber; Discord's
/// blurple).
fn color(tone: Tone) -> u32 {
    match tone {
        Tone::Good => 0x2EB67D,
        Tone::Bad => 0xE01E5A,
        Tone::Warning => 0xECB22E,
        Tone::Neutral => 0x5865F2,
    }
}

/// The message: `content`, one embed, and no mentions.
fn message(notice: &Notice, link: Option<String>) -> Value {
    let title = fit(
        &format!("{} {}", notice.tone.emoji(), notice.title),
        limit::TITLE,
    );
    let footer = fit(
        &format!("Dodo Payments · {}", notice.event_type),
        limit::FOOTER,
    );
    let facts = &notice.facts[..notice.facts.len().min(limit::FIELDS)];
    let names: Vec<String> = facts
        .iter()
        .map(|f| fit(f.label, limit::FIELD_NAME))
        .collect();

    // The embed's 6,000 characters: the title, footer and field names are
    // short and fixed; the field values and the description share the rest.
    let markup: usize = notice
        .details
        .iter()
        .map(|d| utf16_len(&heading(d)))
        .sum::<usize>()
        + BETWEEN.len() * notice.details.len().saturating_sub(1);
    let detail_wants: Vec<usize> = notice
        .details
        .iter()
        .map(|d| escaped_len(&d.value, escape))
        .collect();
    let description_want = (markup + detail_wants.iter().sum::<usize>()).min(limit::DESCRIPTION);
    let fixed =
        utf16_len(&title) + utf16_len(&footer) + names.iter().map(|n| utf16_len(n)).sum::<usize>();
    let wants: Vec<usize> = facts
        .iter()
        .map(want)
        .chain(std::iter::once(description_want))
        .collect();
    let shares = allot(&wants, limit::EMBEDS_TOTAL.saturating_sub(fixed));
    let (value_shares, description_share) = shares.split_at(facts.len());

    let fields: Vec<Value> = facts
        .iter()
        .zip(names)
        .zip(value_shares)
        .map(|((fact, name), &share)| json!({"name": name, "value": value(fact, share), "inline": true}))
        .collect();
    let detail_shares = allot(&detail_wants, description_share[0].saturating_sub(markup));
    let description = notice
        .details
        .iter()
        .zip(detail_shares)
        .map(|(detail, share)| {
            format!(
                "{}{}",
                heading(detail),
                fit_with(&detail.value, share, escape)
            )
        })
        .collect::<Vec<_>>()
        .join(BETWEEN);

    let embed = Object::new()
        .set("title", title)
        .set("url", link.filter(|url| utf16_len(url) <= limit::URL))
        .set("color", i64::from(color(notice.tone)))
        .set("description", Some(description).filter(|d| !d.is_empty()))
        .set(
            "fields",
            Some(Value::from(fields)).filter(|f| f.as_array().is_some_and(|f| !f.is_empty())),
        )
        .set("footer", json!({"text": footer}))
        .set("timestamp", notice.time_rfc3339());
    json!({
        "content": fit_with(&notice.summary, limit::CONTENT, escape),
        "embeds": [Value::from(embed)],
        // Nothing in the message may ping anyone, whatever the payload says.
        "allowed_mentions": {"parse": []},
    })
}

#[cfg(test)]
mod tests;
