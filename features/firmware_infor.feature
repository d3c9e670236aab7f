@firmware
Feature: Firmware information on request
  On app/read_firmware_infor the plug publishes device/firmware_infor with five string
  fields (spec 3.2.2, 3.3.5). Android sends an empty payload, iOS sends {} [app].

  Background:
    Given a provisioned plug connected to the broker

  @rule-firmware-infor
  Scenario Outline: firmware_infor answers a request with payload <payload>
    When the app requests the firmware information with payload "<payload>"
    Then the plug publishes firmware_infor with its MAC

    Examples:
      | payload |
      |         |
      | {}      |
