@countdown
Feature: The countdown
  app/delay_time starts a countdown; the plug publishes delay_time every second with the
  state the relay will take, ends at 0 h 0 min 0 s, then switches (spec 3.2.3, 3.3.2;
  PROTOCOL-NOTES "delay_time"). Each reported remaining time is judged against the true
  remaining time (within 1 s plus the cadence tolerance); one message for every whole
  second is this project's profile. Any on/off change, a power cycle or a new countdown
  cancels it; 0/0 cancels and starts none; out-of-range values change nothing.

  Background:
    Given a provisioned plug connected to the broker
    And the plug's relay is off

  @slow @rule-delay-cadence @rule-delay-target @rule-delay-end
  Scenario: A countdown runs every second to zero, then switches the relay
    When the app starts a countdown of 0 h 1 min
    Then the first delay_time reads 0 h 1 min 0 s with target on
    And delay_time counts down to 0 h 0 min 0 s every second within tolerance
    And the relay switches on after the last delay_time

  @slow @profile @rule-delay-every-value
  Scenario: delay_time reports every whole second, none skipped
    When the app starts a countdown of 0 h 1 min
    Then the first delay_time reads 0 h 1 min 0 s with target on
    And delay_time reports every whole second from the start down to 0 h 0 min 0 s

  @rule-delay-target
  Scenario: The target is the opposite of the state at the start
    When the app switches the plug on
    Then the plug reports switch_state on
    When the app starts a countdown of 2 h 30 min
    Then the first delay_time reads 2 h 30 min 0 s with target off

  @rule-delay-cancel-switch
  Scenario: An on/off change from the app cancels the countdown
    When the app starts a countdown of 0 h 2 min
    Then the first delay_time reads 0 h 2 min 0 s with target on
    When the app switches the plug on
    Then no further delay_time arrives for 3 s

  @needs_button @rule-delay-cancel-switch @rule-button-short-press
  Scenario: A short button press cancels the countdown
    When the app starts a countdown of 0 h 2 min
    Then the first delay_time reads 0 h 2 min 0 s with target on
    When the button is pressed briefly
    Then the plug reports switch_state on
    And no further delay_time arrives for 3 s

  @needs_power_switch @rule-delay-cancel-power
  Scenario: A power cycle of the plug's input cancels the countdown
    When the app starts a countdown of 0 h 2 min
    Then the first delay_time reads 0 h 2 min 0 s with target on
    When the plug's power is cycled
    Then the plug connects to the broker within 10 s
    And no further delay_time arrives for 3 s

  @rule-delay-cancel-new
  Scenario: A new countdown replaces the running one
    When the app starts a countdown of 0 h 2 min
    Then the first delay_time reads 0 h 2 min 0 s with target on
    When the app starts a countdown of 0 h 1 min
    Then only the new countdown's delay_time arrives for 3 s, from 0 h 1 min

  @profile @rule-delay-cancel-zero
  Scenario: 0 h 0 min cancels the countdown and starts none
    When the app starts a countdown of 0 h 2 min
    Then the first delay_time reads 0 h 2 min 0 s with target on
    When the app starts a countdown of 0 h 0 min
    Then no further delay_time arrives for 3 s

  @profile @rule-delay-out-of-range
  Scenario Outline: Out-of-range values change nothing (<payload>)
    When the app starts a countdown of 0 h 2 min
    Then the first delay_time reads 0 h 2 min 0 s with target on
    When the app sends delay_time <payload>
    Then the countdown goes on unchanged

    Examples:
      | payload                              |
      | {"delay_hour":24,"delay_minute":0}   |
      | {"delay_hour":0,"delay_minute":60}   |
      | {"delay_hour":-1,"delay_minute":5}   |
