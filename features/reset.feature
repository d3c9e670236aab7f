@reset
Feature: Factory reset
  A 10 s button hold while connected publishes delete_device, then the plug forgets its
  configuration and returns to AP mode (spec 3.2.5). app/reset does the same without
  delete_device; Android sends an empty payload, iOS {} (PROTOCOL-NOTES).

  Background:
    Given a provisioned plug connected to the broker

  @profile @rule-reset-app
  Scenario Outline: app/reset (payload <payload>)
    When the app sends a reset with payload <payload>
    Then the plug leaves the broker
    And no delete_device was published
    And the plug answers on its AP socket again and has forgotten its configuration

    Examples:
      | payload |
      | empty   |
      | {}      |

  @needs_button @rule-reset-button
  Scenario: A 10 s button hold publishes delete_device and resets
    When the button is held for 10 s
    Then the plug publishes delete_device
    And the plug leaves the broker
    And the plug answers on its AP socket again and has forgotten its configuration

  @needs_power_switch @rule-reset-app @rule-reset-button
  Scenario: A reset erases the configuration from flash, not only from memory
    When the app sends a reset with payload {}
    Then the plug leaves the broker
    When the plug's power is cycled
    Then the plug answers on its AP socket again and has forgotten its configuration
