//! Store URLs: which ones name a PostgreSQL database, and how to print one without its password.

/// Whether `s` is a PostgreSQL URL (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(s: &str) -> bool {
    let s = s.trim_start();
    ["postgres://", "postgresql://"]
        .iter()
        .any(|p| s.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p)))
}

/// `url` with the password masked (`postgres://user:***@host/db`), in the user-info part, in a
/// `password=` query parameter, and in a `key=value` connection string (`host=h password=***`);
/// safe to log and print.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return redact_key_values(url);
    };
    let (head, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (user_info, host) = authority.split_at(at);
            match user_info.find(':') {
                Some(colon) => format!("{}:***{host}", &user_info[..colon]),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}{}", masked.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{head}{authority}{tail}")
}

/// Masks the value of `password=` in a libpq `key=value` string (quoted values included).
fn redact_key_values(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = find_password_key(rest) {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        out.push_str("password=***");
        let value = after["password".len()..].trim_start().trim_start_matches('=').trim_start();
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let close = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                })
                .map_or(value.len(), |(i, _)| i + 2)
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// Where a `password` key (followed by `=`) starts, at the start or after whitespace.
fn find_password_key(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password") {
        let at = from + i;
        let starts_word = at == 0 || lower[..at].ends_with(char::is_whitespace);
        if starts_word && lower[at + "password".len()..].trim_start().starts_with('=') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_are_recognized_and_redacted() {
        assert!(is_postgres_url("postgres://h/db"));
        assert!(is_postgres_url("PostgreSQL://h/db"));
        assert!(!is_postgres_url("sqlite:///x.sqlite3"));
        assert!(!is_postgres_url("/srv/data"));
        assert_eq!(redact_url("postgres://u:s3cr%40t@db:5432/c"), "postgres://u:***@db:5432/c");
        assert_eq!(redact_url("postgres://u@db/c"), "postgres://u@db/c");
        assert_eq!(
            redact_url("postgres://db/c?user=u&password=pw&sslmode=disable"),
            "postgres://db/c?user=u&password=***&sslmode=disable"
        );
        assert_eq!(redact_url("postgresql://u:p@h"), "postgresql://u:***@h");
        assert_eq!(redact_url("/plain/path"), "/plain/path");
        assert_eq!(
            redact_url("host=db user=u password=s3cret dbname=c"),
            "host=db user=u password=*** dbname=c"
        );
        assert_eq!(redact_url("host=db password = 'a b\\' c' port=5"), "host=db password=*** port=5");
        assert_eq!(redact_url("PASSWORD=x"), "password=***");
        assert_eq!(redact_url("host=db mypassword=x"), "host=db mypassword=x");
        let leaky = "postgres://a:b@c@h/db?password=x";
        assert!(
            !redact_url(leaky).contains(":b@") && !redact_url(leaky).contains("=x"),
            "{}",
            redact_url(leaky)
        );
    }
}
