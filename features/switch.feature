@switch
Feature: Switching the relay and the switch_state heartbeat
  The app switches the plug through app/switch_state; the plug answers on
  device/switch_state on every change and every 30 s regardless (spec 3.2.1, 3.3.1). The
  relay's state at power-up is the plug's own: scenarios that need one set it first.

  Background:
    Given a provisioned plug connected to the broker

  @rule-switch-on-connect @fresh_session
  Scenario: switch_state is published on connection
    Then the plug publishes switch_state on connection

  @rule-switch-on-change
  Scenario: The app switches the plug on and off
    Given the plug's relay is off
    When the app switches the plug on
    Then the plug reports switch_state on
    When the app switches the plug off
    Then the plug reports switch_state off

  @slow @rule-switch-heartbeat @rule-session-keepalive @fresh_session
  Scenario: The heartbeat comes every 30 s
    Then switch_state arrives every 30 s within tolerance, 3 times in a row
    And no other publish changed the relay meanwhile
    And the plug sent a control packet at least once per keepalive

  @needs_console @profile @rule-console-relay
  Scenario: Every relay change reported over MQTT also appears on the serial console
    Given the plug's relay is off
    When the app switches the plug on
    Then the plug reports switch_state on
    When the app switches the plug off
    Then the plug reports switch_state off
    When the app switches the plug on
    Then the plug reports switch_state on
    And every relay change reported over MQTT appears in the same order on the console
