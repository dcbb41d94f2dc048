//! Who a [`Comfy`](crate::Comfy) handle acts for: the ownership rule of a client shared by
//! several users.
//!
//! Every job (and so every asset and batch item) records its owner in
//! [`Provenance::owner`](crate::job::Provenance). A [`Caller::user`] records its own name on
//! what it creates and sees only records with that owner: another owner's job, asset or batch
//! is reported exactly like a missing id, so ids cannot be probed. A [`Caller::admin`] records
//! its name too but sees and acts on everything; [`Caller::local`] (the default: one user, as
//! in the bindings, the CLI and stdio) records no owner and sees everything.

use crate::job::Provenance;

/// The identity a [`Comfy`](crate::Comfy) handle acts for ([`Comfy::acting_for`](crate::Comfy::acting_for)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Caller {
    owner: Option<String>,
    admin: bool,
}

impl Caller {
    /// The single user of a client: records no owner, sees every record (the default).
    pub fn local() -> Caller {
        Caller::default()
    }

    /// One user among several: what it creates is recorded as `owner`'s, and it sees (lists,
    /// reads, waits for, cancels, regenerates, publishes) only records with that owner.
    pub fn user(owner: impl Into<String>) -> Caller {
        Caller { owner: Some(owner.into()), admin: false }
    }

    /// An administrator: what it creates is recorded as `owner`'s, and it sees and acts on
    /// every record.
    pub fn admin(owner: impl Into<String>) -> Caller {
        Caller { owner: Some(owner.into()), admin: true }
    }

    /// The owner recorded on what this caller creates (`None` for [`Caller::local`]).
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// Whether this is an administrator.
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// Whether this caller sees every record (an administrator, or the single local user).
    pub fn sees_all(&self) -> bool {
        self.admin || self.owner.is_none()
    }

    /// Whether this caller may see a record owned by `owner`.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        self.sees_all() || owner == self.owner()
    }

    /// Whether this caller may see a record with this provenance.
    pub fn may_see_provenance(&self, provenance: &Provenance) -> bool {
        self.may_see(provenance.owner.as_deref())
    }

    /// The owner a list of records is narrowed to: this caller's own name when it does not see
    /// everything, else `requested` (a filter the caller asked for, if any).
    pub fn narrow(&self, requested: Option<String>) -> Option<String> {
        if self.sees_all() { requested } else { self.owner.clone() }
    }

    /// Records this caller as the owner of something it creates: a user always owns what it
    /// creates; an administrator owns it unless it carries an owner already (continuing a
    /// user's batch keeps that user's); the local caller leaves the provenance as it is.
    pub fn stamp(&self, provenance: &mut Provenance) {
        match (&self.owner, self.admin) {
            (Some(owner), false) => provenance.owner = Some(owner.clone()),
            (Some(owner), true) => {
                provenance.owner.get_or_insert_with(|| owner.clone());
            }
            (None, _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(owner: Option<&str>) -> Provenance {
        Provenance { owner: owner.map(str::to_owned), ..Default::default() }
    }

    #[test]
    fn users_see_their_own_admins_and_local_see_all() {
        let a = Caller::user("a");
        let admin = Caller::admin("root");
        let local = Caller::local();
        assert!(a.may_see(Some("a")));
        assert!(!a.may_see(Some("b")));
        assert!(!a.may_see(None), "an unowned (single-user) record is not a user's");
        for all in [&admin, &local] {
            assert!(all.sees_all());
            assert!(all.may_see(Some("a")) && all.may_see(Some("b")) && all.may_see(None));
        }
        assert!(a.may_see_provenance(&owned(Some("a"))) && !a.may_see_provenance(&owned(Some("b"))));
        assert_eq!(a.narrow(None), Some("a".to_owned()));
        assert_eq!(a.narrow(Some("b".into())), Some("a".to_owned()), "a user cannot ask for another's");
        assert_eq!(admin.narrow(Some("b".into())), Some("b".to_owned()));
        assert_eq!(local.narrow(None), None);
    }

    #[test]
    fn stamping_records_the_owner() {
        let mut p = owned(Some("someone"));
        Caller::user("a").stamp(&mut p);
        assert_eq!(p.owner.as_deref(), Some("a"), "a user cannot create records for another");
        let mut p = owned(None);
        Caller::admin("root").stamp(&mut p);
        assert_eq!(p.owner.as_deref(), Some("root"));
        let mut p = owned(Some("a"));
        Caller::admin("root").stamp(&mut p);
        assert_eq!(p.owner.as_deref(), Some("a"), "an admin continuing a's batch keeps a's owner");
        let mut p = owned(None);
        Caller::local().stamp(&mut p);
        assert_eq!(p.owner, None);
        assert_eq!(Caller::default(), Caller::local());
    }
}
