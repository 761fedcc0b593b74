//! Who is asking: the tenant every statement of a request is scoped to, and the request facts
//! that identity events carry (user agent, address). Writes take one `&Caller` instead of
//! loose `tenant` and `meta` arguments, so the two cannot be swapped or taken from different
//! requests.

/// Who made the request, as far as payloads tell: taken from the HTTP request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// The tenant and request of one GraphQL operation.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: String,
    pub meta: RequestMeta,
}

impl Caller {
    pub fn new(tenant: impl Into<String>, meta: RequestMeta) -> Caller {
        Caller {
            tenant: tenant.into(),
            meta,
        }
    }
}
