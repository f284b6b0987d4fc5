//! The simulated gateways and bills. Changes complete lazily: every read first settles the
//! changes whose time has come.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

/// A gateway as seeded and as reported by `GET /_sim/gateways`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimGateway {
    pub id: String,
    #[serde(default = "default_vpc")]
    pub vpc_id: String,
    #[serde(default = "default_size")]
    pub max_concurrent: u64,
    /// An API 3.0 state word: `AVAILABLE`, `UPDATING`, `PENDING`, `PENDFAILURE`, `DELETING`,
    /// `DELETEFAILURE`, `DENIED`.
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_zone")]
    pub zone: String,
}

fn default_vpc() -> String {
    "vpc-sim00001".to_owned()
}
fn default_size() -> u64 {
    1_000_000
}
fn default_state() -> String {
    "AVAILABLE".to_owned()
}
fn default_zone() -> String {
    "ap-guangzhou-3".to_owned()
}

impl SimGateway {
    pub fn new(id: &str, vpc_id: &str, max_concurrent: u64) -> SimGateway {
        SimGateway {
            id: id.to_owned(),
            vpc_id: vpc_id.to_owned(),
            max_concurrent,
            state: default_state(),
            name: String::new(),
            zone: default_zone(),
        }
    }

    /// API 2.0's `(state, productionStatus)` for the state word.
    pub fn v2_state(&self) -> (u8, u8) {
        match self.state.as_str() {
            "AVAILABLE" => (0, 1),
            "UPDATING" => (0, 3),
            "PENDING" => (0, 0),
            "PENDFAILURE" => (0, 2),
            "DELETING" => (0, 5),
            "DELETEFAILURE" => (0, 6),
            // Arrears: suspended.
            "DENIED" => (2, 1),
            _ => (1, 1),
        }
    }
}

/// The sizes the NAT gateway product sells.
pub const SIZES: [u64; 3] = [1_000_000, 3_000_000, 10_000_000];

#[derive(Debug)]
struct Change {
    target: u64,
    until: Instant,
    fail: bool,
}

#[derive(Debug)]
struct Bill {
    until: Instant,
    fail: bool,
}

/// API 2.0 bill status codes.
pub const BILL_SUCCEEDED: u8 = 0;
pub const BILL_FAILED: u8 = 1;
pub const BILL_RUNNING: u8 = 2;

#[derive(Debug)]
pub struct Model {
    gateways: BTreeMap<String, (SimGateway, Option<Change>)>,
    bills: HashMap<String, Bill>,
    /// Gateways with a change running, so that settling costs nothing for the others.
    changing: HashSet<String>,
    pub change_time: Duration,
    seq: u64,
}

impl Model {
    pub fn new(change_time: Duration) -> Model {
        Model { gateways: BTreeMap::new(), bills: HashMap::new(), changing: HashSet::new(), change_time, seq: 0 }
    }

    pub fn seed(&mut self, gateway: SimGateway) {
        self.changing.remove(&gateway.id);
        self.gateways.insert(gateway.id.clone(), (gateway, None));
    }

    /// All gateways, in id order.
    pub fn gateways(&mut self) -> Vec<SimGateway> {
        self.settle();
        self.gateways.values().map(|(g, _)| g.clone()).collect()
    }

    /// The gateways among `ids` that exist, in the order asked.
    pub fn get_many(&mut self, ids: &[String]) -> Vec<SimGateway> {
        self.settle();
        ids.iter().filter_map(|id| self.gateways.get(id).map(|(g, _)| g.clone())).collect()
    }

    pub fn get(&mut self, id: &str) -> Option<SimGateway> {
        self.settle();
        self.gateways.get(id).map(|(g, _)| g.clone())
    }

    /// Starts a change to `target`; the caller has checked that the gateway exists and is
    /// `AVAILABLE`. A failing change reverts to the old size when its time is up.
    pub fn start_change(&mut self, id: &str, target: u64, fail: bool) {
        let until = Instant::now() + self.change_time;
        if let Some((g, change)) = self.gateways.get_mut(id) {
            g.state = "UPDATING".to_owned();
            *change = Some(Change { target, until, fail });
            self.changing.insert(id.to_owned());
        }
    }

    /// A new API 2.0 bill that runs as long as a change: 32 digits like the documented example.
    pub fn new_bill(&mut self, fail: bool) -> String {
        self.bill(Instant::now() + self.change_time, fail)
    }

    /// A bill for a change of nothing: succeeded from the start.
    pub fn new_done_bill(&mut self) -> String {
        self.bill(Instant::now(), false)
    }

    fn bill(&mut self, until: Instant, fail: bool) -> String {
        self.seq += 1;
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let id = format!("{secs:014}{:018}", self.seq);
        self.bills.insert(id.clone(), Bill { until, fail });
        id
    }

    pub fn bill_status(&self, id: &str) -> Option<u8> {
        self.bills.get(id).map(|b| match (Instant::now() >= b.until, b.fail) {
            (false, _) => BILL_RUNNING,
            (true, false) => BILL_SUCCEEDED,
            (true, true) => BILL_FAILED,
        })
    }

    fn settle(&mut self) {
        let now = Instant::now();
        let gateways = &mut self.gateways;
        self.changing.retain(|id| {
            let Some((g, change)) = gateways.get_mut(id) else {
                return false;
            };
            match change {
                Some(c) if now >= c.until => {
                    if !c.fail {
                        g.max_concurrent = c.target;
                    }
                    g.state = "AVAILABLE".to_owned();
                    *change = None;
                    false
                }
                Some(_) => true,
                None => false,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_and_bills_complete_after_the_change_time() {
        let mut m = Model::new(Duration::from_millis(30));
        m.seed(SimGateway::new("nat-1", "vpc-1", 1_000_000));
        m.seed(SimGateway::new("nat-2", "vpc-1", 1_000_000));
        m.start_change("nat-1", 3_000_000, false);
        m.start_change("nat-2", 3_000_000, true);
        let ok = m.new_bill(false);
        let bad = m.new_bill(true);
        let nothing = m.new_done_bill();
        assert_eq!(m.bill_status(&nothing), Some(BILL_SUCCEEDED));
        assert_eq!(ok.len(), 32);
        assert_eq!(m.get("nat-1").unwrap().state, "UPDATING");
        assert_eq!(m.get("nat-1").unwrap().v2_state(), (0, 3));
        assert_eq!(m.bill_status(&ok), Some(BILL_RUNNING));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(m.get("nat-1").unwrap().max_concurrent, 3_000_000);
        assert_eq!(m.get("nat-2").unwrap().max_concurrent, 1_000_000);
        assert_eq!(m.get("nat-2").unwrap().state, "AVAILABLE");
        assert_eq!(m.bill_status(&ok), Some(BILL_SUCCEEDED));
        assert_eq!(m.bill_status(&bad), Some(BILL_FAILED));
        assert_eq!(m.bill_status("nope"), None);
    }
}
