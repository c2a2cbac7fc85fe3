"""Prints the lags test_dns_secondaries measured, per secondary type, at
the end of the run (pytest captures a passing test's own output)."""
import statistics


def pytest_terminal_summary(terminalreporter):
    from test_dns_secondaries import LAGS, XFRS
    if not LAGS:
        return
    w = terminalreporter
    w.section("secondary lag: from the first registry's acknowledgement to the "
              "secondary's answer")
    for kind, lags in LAGS.items():
        follows = [s for what, s in lags if not what.startswith(("first", "late"))]
        w.line(f"{kind}: " + ", ".join(f"{what} {s * 1000:.0f} ms" for what, s in lags))
        if follows:
            w.line(f"{kind}: following median {statistics.median(follows) * 1000:.0f} ms, "
                   f"max {max(follows) * 1000:.0f} ms over {len(follows)} changes")
    for kind, regs in XFRS.items():
        w.line(f"{kind}: transfers answered while both registries ran: {regs}")
