//! Membership changes under load, through the nodes' `tally.v1.Admin` service: remove a voter
//! (the fault), then add it back as a learner and promote it to voter again (the heal).
//!
//! A removed node keeps running with its data; re-adding it makes the leader send it the log
//! (or a snapshot) from where it stopped. Every call goes to the current leader and is retried
//! within a bound, because the leader may change in the middle (removing the leader itself
//! makes it step down once the new configuration commits).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tally_proto::v1::admin_client::AdminClient;
use tally_proto::v1::{AddLearnerRequest, ChangeMembershipRequest, GetStatusResponse, MemberRole};

use crate::cluster::Cluster;

/// How long a removal or a restore may take before the harness gives up on it.
const BOUND: Duration = Duration::from_secs(60);

fn voters(s: &GetStatusResponse) -> BTreeSet<u64> {
    s.members
        .iter()
        .filter(|m| m.role == MemberRole::Voter as i32)
        .map(|m| m.id)
        .collect()
}

fn members(s: &GetStatusResponse) -> BTreeSet<u64> {
    s.members.iter().map(|m| m.id).collect()
}

async fn admin(c: &Cluster, id: u64) -> Result<AdminClient<tonic::transport::Channel>> {
    let channel = crate::tls::endpoint(c.addr(id))?.connect().await?;
    Ok(AdminClient::new(channel))
}

/// Removes `victim` from the voters (not kept as a learner). Done when the leader's membership
/// no longer lists it, whoever answered the call.
pub async fn remove_voter(c: &Cluster, victim: u64) -> Result<()> {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some((leader, s)) = c.leader_status().await {
            if !members(&s).contains(&victim) {
                return Ok(());
            }
            let rest: Vec<u64> = voters(&s).into_iter().filter(|&v| v != victim).collect();
            let mut req = tonic::Request::new(ChangeMembershipRequest {
                voter_ids: rest,
                retain_removed_as_learners: false,
            });
            req.set_timeout(Duration::from_secs(10));
            if let Ok(mut a) = admin(c, leader).await {
                // An error may still have committed: the next round looks at the membership.
                let _ = a.change_membership(req).await;
            }
        }
        if Instant::now() > deadline {
            bail!("n{victim} still a member after {BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Makes every node of the cluster a voter again: a node missing from the membership is
/// added as a learner (the call returns once it has caught up), then all are promoted.
/// Returns what it did, or `None` if the membership was already whole.
pub async fn restore(c: &Cluster) -> Result<Option<String>> {
    let all: BTreeSet<u64> = c.ids().into_iter().collect();
    let deadline = Instant::now() + BOUND;
    let mut done = Vec::new();
    let mut last_error = String::from("no leader");
    loop {
        if let Some((leader, s)) = c.leader_status().await {
            if voters(&s) == all {
                return Ok((!done.is_empty()).then(|| done.join(", ")));
            }
            if let Err(e) = restore_step(c, leader, &s, &all, &mut done).await {
                last_error = e.to_string();
            }
        }
        if Instant::now() > deadline {
            bail!(
                "membership not restored after {BOUND:?} ({}; last error: {last_error})",
                done.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn restore_step(
    c: &Cluster,
    leader: u64,
    s: &GetStatusResponse,
    all: &BTreeSet<u64>,
    done: &mut Vec<String>,
) -> Result<()> {
    let mut a = admin(c, leader).await?;
    for &id in all.difference(&members(s)) {
        let mut req = tonic::Request::new(AddLearnerRequest {
            node_id: id,
            address: c.addr(id).to_string(),
        });
        req.set_timeout(Duration::from_secs(30));
        a.add_learner(req).await?;
        done.push(format!("n{id} learner"));
    }
    let mut req = tonic::Request::new(ChangeMembershipRequest {
        voter_ids: all.iter().copied().collect(),
        retain_removed_as_learners: false,
    });
    req.set_timeout(Duration::from_secs(10));
    a.change_membership(req).await?;
    done.push(format!("voters {all:?}"));
    Ok(())
}
