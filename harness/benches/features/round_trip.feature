Feature: Switch round trips, for cargo bench
  Scenario: App-to-device switch round trips
    Given a provisioned plug connected to the broker
    Then 200 switch round trips are measured
