//! From what a chat client sends to the words a conductor typed.
//!
//! Slack wraps mentions, channels and links in `<...>` and escapes `&`, `<`,
//! `>`; phones turn quotes into smart quotes; people address the bot first.
//! None of that is part of the command, so it is undone here, before parsing.

/// The command text without a leading bot mention, Slack markup or smart quotes.
pub fn normalize(text: &str) -> String {
    let plain: String = text.chars().filter(|c| !is_invisible(*c)).map(straighten_quote).collect();
    let unwrapped = decode_entities(&unwrap_slack_markup(strip_leading_slack_mentions(&plain)));
    strip_leading_mentions(&unwrapped).to_string()
}

/// Drops `<@U123>` constructs at the start even when no space follows them
/// (`<@U123>describe`), which the plain `@name` rule below could not tell apart.
fn strip_leading_slack_mentions(text: &str) -> &str {
    let mut rest = text.trim_start();
    while let Some(mention) = rest.strip_prefix("<@") {
        let Some((_, after)) = mention.split_once('>') else {
            break;
        };
        rest = after.trim_start();
        rest = rest.strip_prefix([':', ',']).unwrap_or(rest).trim_start();
    }
    rest
}

/// Zero-width characters that clients paste in and that no command contains.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn straighten_quote(c: char) -> char {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' => '"',
        other => other,
    }
}

/// Replaces each `<...>` construct with the text a reader sees.
fn unwrap_slack_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, after_open)) = rest.split_once('<') {
        out.push_str(before);
        match after_open.split_once('>') {
            Some((inner, after_close)) => {
                out.push_str(&visible_text(inner));
                rest = after_close;
            }
            None => {
                // An unclosed `<` is not markup: keep it as typed.
                out.push('<');
                rest = after_open;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `@U123|name` -> `@name`, `#C1|chan` -> `#chan`, `!here` -> `@here`,
/// `https://x.y|x.y` -> `x.y`, `mailto:a@b` -> `a@b`.
fn visible_text(inner: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) if !label.trim().is_empty() => (target, Some(label.trim())),
        Some((target, _)) => (target, None),
        None => (inner, None),
    };
    if let Some(id) = target.strip_prefix('@') {
        return prefixed('@', label.unwrap_or(id));
    }
    if let Some(id) = target.strip_prefix('#') {
        return prefixed('#', label.unwrap_or(id));
    }
    if let Some(special) = target.strip_prefix('!') {
        let name = special.split('^').next().unwrap_or(special);
        return label.map_or_else(|| prefixed('@', name), str::to_string);
    }
    match label {
        Some(label) => label.to_string(),
        None => target.strip_prefix("mailto:").unwrap_or(target).to_string(),
    }
}

fn prefixed(sigil: char, name: &str) -> String {
    if name.starts_with(sigil) {
        name.to_string()
    } else {
        format!("{sigil}{name}")
    }
}

/// Slack escapes exactly these three; `&amp;` last so `&amp;lt;` stays `&lt;`.
fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Drops `@bot`, `@bot:` or `@bot,` words (and a lone `:`) at the start.
fn strip_leading_mentions(text: &str) -> &str {
    let mut rest = text.trim_start();
    while rest.starts_with('@') {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest.get(end..).unwrap_or("").trim_start();
        rest = rest.strip_prefix([':', ',']).unwrap_or(rest).trim_start();
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn slack_markup_becomes_what_the_reader_sees() {
        let cases = [
            ("<@U123> describe CHG1", "describe CHG1"),
            ("<@U123>describe CHG1", "describe CHG1"),
            ("<@U123|sb>, <@U9> oa", "oa"),
            ("<@U123|signalbox>: oa", "oa"),
            ("  <@U1> <@U2>,  help", "help"),
            ("@signalbox help", "help"),
            ("see <https://x.y|x.y>", "see x.y"),
            ("see <https://x.y/a?b=1>", "see https://x.y/a?b=1"),
            ("mail <mailto:a@b|a@b>", "mail a@b"),
            ("mail <mailto:a@b>", "mail a@b"),
            ("in <#C123|prod-trains>", "in #prod-trains"),
            ("in <#C123>", "in #C123"),
            ("ask <@U9|bob>", "ask @bob"),
            ("ask <@U9>", "ask @U9"),
            ("hey <!here>", "hey @here"),
            ("hey <!subteam^S1|@sre>", "hey @sre"),
            ("a &lt;b&gt; &amp;lt;", "a <b> &lt;"),
            ("a < b", "a < b"),
            ("\u{2018}x\u{2019} \u{201C}y\u{201D}", "'x' \"y\""),
            ("de\u{200B}scribe", "describe"),
        ];
        for (text, want) in cases {
            assert_eq!(normalize(text), want, "{text:?}");
        }
    }
}
