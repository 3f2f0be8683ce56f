//! The channel's clocks, in one place so that tests can shorten them, and
//! the retransmission timeout estimator both protocol ends use.

use std::time::Duration;

/// Every duration the channel waits for. [`Timing::default`] is the
/// protocol's (`../shared/ssm-protocol.md` §2, §4, §9); tests inject
/// shorter ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often unacknowledged messages are looked at (and resent when
    /// overdue): 100 ms, as both reference ends.
    pub resend_tick: Duration,
    /// The round-trip estimate before the first acknowledgement: 100 ms.
    pub initial_rtt: Duration,
    /// The retransmission timeout before the first acknowledgement: 200 ms.
    pub initial_rto: Duration,
    /// The least margin the timeout keeps above the round trip: 10 ms.
    pub min_rto_margin: Duration,
    /// The longest the timeout grows: 1 s.
    pub max_rto: Duration,
    /// With the socket up and messages outstanding, how long without any
    /// acknowledgement before the agent counts as gone: 30 s.
    pub peer_gone_after: Duration,
    /// How long connecting, TLS, the websocket handshake and the token
    /// message may take: 15 s.
    pub open_within: Duration,
    /// How often a websocket ping keeps the connection alive: 5 min, as
    /// the plugin (the agent pings every 54 s on its side).
    pub ping_every: Duration,
    /// The wait before the second resume attempt; it doubles per attempt.
    pub resume_first_delay: Duration,
    /// The longest wait between resume attempts.
    pub resume_max_delay: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            resend_tick: Duration::from_millis(100),
            initial_rtt: Duration::from_millis(100),
            initial_rto: Duration::from_millis(200),
            min_rto_margin: Duration::from_millis(10),
            max_rto: Duration::from_secs(1),
            peer_gone_after: Duration::from_secs(30),
            open_within: Duration::from_secs(15),
            ping_every: Duration::from_secs(5 * 60),
            resume_first_delay: Duration::from_millis(100),
            resume_max_delay: Duration::from_secs(5),
        }
    }
}

/// The round-trip estimate and the retransmission timeout (RTO) derived
/// from it, updated per acknowledgement as both reference ends do:
/// RTTVAR = ¾·RTTVAR + ¼·|RTT − sample|, then RTT = ⅞·RTT + ⅛·sample, and
/// RTO = RTT + max(margin, 4·RTTVAR), capped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtoEstimator {
    rtt: Duration,
    rttvar: Duration,
    rto: Duration,
    min_margin: Duration,
    max_rto: Duration,
}

impl RtoEstimator {
    pub fn new(timing: &Timing) -> RtoEstimator {
        RtoEstimator {
            rtt: timing.initial_rtt,
            rttvar: Duration::ZERO,
            rto: timing.initial_rto.min(timing.max_rto),
            min_margin: timing.min_rto_margin,
            max_rto: timing.max_rto,
        }
    }

    /// Takes one round trip: from a message's (last) sending to its
    /// acknowledgement. Resent messages give samples too, as in the
    /// reference ends.
    pub fn sample(&mut self, sample: Duration) {
        let deviation = self.rtt.abs_diff(sample);
        self.rttvar = self.rttvar * 3 / 4 + deviation / 4;
        self.rtt = self.rtt * 7 / 8 + sample / 8;
        self.rto = (self.rtt + self.min_margin.max(self.rttvar * 4)).min(self.max_rto);
    }

    pub fn rto(&self) -> Duration {
        self.rto
    }

    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn starts_at_the_protocols_values() {
        let estimator = RtoEstimator::new(&Timing::default());
        assert_eq!(estimator.rtt(), ms(100));
        assert_eq!(estimator.rttvar(), Duration::ZERO);
        assert_eq!(estimator.rto(), ms(200));
    }

    #[test]
    fn follows_the_protocols_formulas() {
        let mut estimator = RtoEstimator::new(&Timing::default());
        // A sample equal to the estimate: no variance, so the 10 ms margin.
        estimator.sample(ms(100));
        assert_eq!(
            (estimator.rtt(), estimator.rttvar(), estimator.rto()),
            (ms(100), Duration::ZERO, ms(110))
        );
        // |100 − 300| = 200: RTTVAR = 50, RTT = 87.5 + 37.5 = 125,
        // RTO = 125 + 4·50 = 325.
        estimator.sample(ms(300));
        assert_eq!(
            (estimator.rtt(), estimator.rttvar(), estimator.rto()),
            (ms(125), ms(50), ms(325))
        );
        // |125 − 125| = 0: RTTVAR = 37.5, RTT stays, RTO = 125 + 150.
        estimator.sample(ms(125));
        assert_eq!(estimator.rttvar(), Duration::from_micros(37_500));
        assert_eq!(estimator.rto(), ms(275));
    }

    #[test]
    fn the_timeout_is_capped_at_one_second() {
        let mut estimator = RtoEstimator::new(&Timing::default());
        estimator.sample(ms(5_000));
        // RTT 712.5 ms, RTTVAR 1,225 ms: 5.6 s uncapped.
        assert_eq!(estimator.rto(), ms(1_000));
        assert_eq!(estimator.rtt(), Duration::from_micros(712_500));
    }
}
