//! Store URLs: which ones name a PostgreSQL database, and how to print one without its password.

/// Whether `s` is a PostgreSQL URL (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(s: &str) -> bool {
    let s = s.trim_start();
    ["postgres://", "postgresql://"]
        .iter()
        .any(|p| s.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p)))
}

/// `url` with the password masked (`postgres://user:***@host/db`), both in the user-info part
/// and in a `password=` query parameter; safe to log and print.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
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
        let leaky = "postgres://a:b@c@h/db?password=x";
        assert!(
            !redact_url(leaky).contains(":b@") && !redact_url(leaky).contains("=x"),
            "{}",
            redact_url(leaky)
        );
    }
}
