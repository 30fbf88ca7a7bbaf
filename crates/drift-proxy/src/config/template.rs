//! `$variable` strings used by `proxy_set_header` and `hash`: parsed once at config time so the
//! request path only concatenates. Unknown variables are config errors, not empty strings, because
//! nginx refuses them too ("unknown variable").

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    RemoteAddr,
    RemotePort,
    Host,
    ProxyHost,
    ProxyAddXForwardedFor,
    RequestUri,
    Uri,
    Args,
    Scheme,
    ServerPort,
    ServerAddr,
    RequestMethod,
    /// `$http_user_agent` -> header `user-agent` (underscores become dashes, lowercased).
    Http(String),
    /// `$arg_name` -> query argument `name`.
    Arg(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Var(Var),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    /// Parses `$name` and `${name}` references. Returns the unknown variable name on failure.
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            let (name, after) = if let Some(r) = rest.strip_prefix('{') {
                let end = r.find('}').ok_or_else(|| format!("{{{r}"))?;
                (&r[..end], &r[end + 1..])
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            if name.is_empty() {
                lit.push('$');
                rest = after;
                continue;
            }
            let var = Self::var(name).ok_or_else(|| name.to_string())?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(var));
            rest = after;
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    fn var(name: &str) -> Option<Var> {
        Some(match name {
            "remote_addr" | "binary_remote_addr" => Var::RemoteAddr,
            "remote_port" => Var::RemotePort,
            "host" => Var::Host,
            "proxy_host" => Var::ProxyHost,
            "proxy_add_x_forwarded_for" => Var::ProxyAddXForwardedFor,
            "request_uri" => Var::RequestUri,
            "uri" | "document_uri" => Var::Uri,
            "args" | "query_string" => Var::Args,
            "scheme" => Var::Scheme,
            "server_port" => Var::ServerPort,
            "server_addr" => Var::ServerAddr,
            "request_method" => Var::RequestMethod,
            n => {
                if let Some(h) = n.strip_prefix("http_") {
                    Var::Http(h.replace('_', "-").to_ascii_lowercase())
                } else if let Some(a) = n.strip_prefix("arg_") {
                    Var::Arg(a.to_string())
                } else {
                    return None;
                }
            }
        })
    }

    /// True when every variable can be known from the connection alone (the `stream` module).
    pub fn is_connection_only(&self) -> bool {
        self.parts.iter().all(|p| {
            matches!(
                p,
                Part::Lit(_)
                    | Part::Var(
                        Var::RemoteAddr | Var::RemotePort | Var::ServerPort | Var::ServerAddr
                    )
            )
        })
    }

    /// Expands with a lookup; the caller supplies values so this stays independent of hyper.
    pub fn render(&self, out: &mut String, mut value: impl FnMut(&Var, &mut String)) {
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => value(v, out),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_variables_alternate() {
        let t = Template::parse("a$host-${remote_addr}b").unwrap_or_default();
        assert_eq!(
            t.parts,
            vec![
                Part::Lit("a".into()),
                Part::Var(Var::Host),
                Part::Lit("-".into()),
                Part::Var(Var::RemoteAddr),
                Part::Lit("b".into())
            ]
        );
    }

    #[test]
    fn http_variables_name_a_header() {
        let t = Template::parse("$http_x_real_ip").unwrap_or_default();
        assert_eq!(t.parts, vec![Part::Var(Var::Http("x-real-ip".into()))]);
    }

    #[test]
    fn unknown_variable_is_reported_by_name() {
        assert_eq!(Template::parse("$nope"), Err("nope".into()));
    }

    #[test]
    fn lone_dollar_stays_literal() {
        assert_eq!(
            Template::parse("a$").map(|t| t.parts),
            Ok(vec![Part::Lit("a$".into())])
        );
    }

    #[test]
    fn empty_string_renders_empty() {
        let t = Template::parse("").unwrap_or_default();
        assert!(t.is_empty());
    }

    #[test]
    fn render_substitutes_values() {
        let t = Template::parse("$scheme://$host$request_uri").unwrap_or_default();
        let mut s = String::new();
        t.render(&mut s, |v, o| {
            o.push_str(match v {
                Var::Scheme => "http",
                Var::Host => "h",
                _ => "/x",
            })
        });
        assert_eq!(s, "http://h/x");
    }

    #[test]
    fn stream_templates_only_use_connection_variables() {
        assert!(Template::parse("$remote_addr")
            .map(|t| t.is_connection_only())
            .unwrap_or(false));
        assert!(!Template::parse("$host")
            .map(|t| t.is_connection_only())
            .unwrap_or(true));
    }
}
