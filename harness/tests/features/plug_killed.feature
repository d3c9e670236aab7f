# Used by tests/harness_behaviour.rs: a plug that dies mid-scenario fails that scenario
# quickly and clearly, and the other scenario still passes.
Feature: A plug that dies mid-scenario

  Scenario: The plug is killed while the heartbeat is measured
    Given a provisioned plug connected to the broker
    When the plug process is killed
    Then switch_state arrives every 30 s within tolerance, 3 times in a row

  Scenario: A healthy plug beside it
    Given a provisioned plug connected to the broker
    When the app switches the plug on
    Then the plug reports switch_state on
