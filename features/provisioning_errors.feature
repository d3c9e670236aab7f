@provisioning @errors
Feature: Bad provisioning input gets the documented code, and the plug keeps serving
  Error codes 1-6 of spec section 1, checked in the pinned order 4, 5, 2, 1, 6, 3
  (PROTOCOL-NOTES "AP socket"). That an error reply's result.header echoes the request's
  header is this project's profile, checked by its own scenario; without a parsed header a
  reply may omit result. JSON that is not an object (an
  array, a string) is JSON: code 5, not 4.

  Background:
    Given a factory-fresh plug

  @rule-ap-code-1 @rule-ap-envelope
  Scenario Outline: A 4002 field of the wrong length gets code 1 (<field> = <value>)
    When the app sends the broker configuration with <field> set to <value>
    Then the reply has code 1 and header 4002

    Examples:
      | field    | value                                                                 |
      | host     | ""                                                                    |
      | host     | "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"   |
      | username | ""                                                                    |
      | username | "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"                                   |
      | password | ""                                                                    |
      | password | "ppppppppppppppppppppppppppppppppp"                                   |
      | clientId | "ccccccccccccccccccccccccccccccccc"                                   |

  @rule-ap-code-1
  Scenario Outline: A 4003 field of the wrong length gets code 1 (<field> = <value>)
    When the app requests the device information
    And the app sends the broker configuration with qos set to 1
    And the app sends the network configuration with <field> set to <value>
    Then the reply has code 1 and header 4003

    Examples:
      | field     | value                                                                |
      | wifi_ssid | ""                                                                   |
      | wifi_ssid | "sssssssssssssssssssssssssssssssss"                                  |
      | wifi_pwd  | "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww" |

  @rule-ap-code-2
  Scenario Outline: A field of the wrong type gets code 2 (<field> = <value>)
    When the app sends the broker configuration with <field> set to <value>
    Then the reply has code 2 and header 4002

    Examples:
      | field         | value  |
      | port          | "1883" |
      | password      | 1234   |
      | qos           | true   |
      | clean_session | [1]    |

  @profile @rule-ap-type-edges
  Scenario Outline: A number with a fraction and null are wrong types (<field> = <value>)
    When the app sends the broker configuration with <field> set to <value>
    Then the reply has code 2 and header 4002

    Examples:
      | field     | value |
      | keepalive | 60.5  |
      | host      | null  |

  @profile @rule-ap-error-echo
  Scenario: An error reply echoes the request's header
    When the app sends the broker configuration with host set to ""
    Then the reply has code 1 and header 4002
    And the error reply echoes header 4002

  @rule-ap-code-3
  Scenario: The network before the broker gets code 3
    When the app sends the network configuration
    Then the reply has code 3 and header 4003

  @rule-ap-code-4 @rule-ap-robust
  Scenario Outline: Text that is not JSON gets code 4 (<text>)
    When the app sends the raw text <text>
    Then the reply has code 4
    And the plug still answers 4001 on a new connection

    Examples:
      | text             |
      | hello plug       |
      | {"header":40x}   |

  @rule-ap-code-5
  Scenario Outline: JSON the document does not define gets code 5 (<case>)
    When the app sends the raw text <json>
    Then the reply has code 5

    Examples:
      | case            | json              |
      | no header       | {"host":"x"}      |
      | unknown header  | {"header":4004}   |
      | string header   | {"header":"4001"} |
      | an array        | [4001]            |
      | a string        | "4001"            |

  @rule-ap-code-5
  Scenario Outline: A missing 4002 field gets code 5 (<field>)
    When the app sends the broker configuration without <field>
    Then the reply has code 5 and header 4002

    Examples:
      | field        |
      | host         |
      | port         |
      | username     |
      | keepalive    |
      | connect_mode |

  @rule-ap-code-6
  Scenario Outline: A value out of range gets code 6 (<field> = <value>)
    When the app sends the broker configuration with <field> set to <value>
    Then the reply has code 6 and header 4002

    Examples:
      | field         | value |
      | port          | 65536 |
      | port          | -1    |
      | connect_mode  | 2     |
      | keepalive     | 59    |
      | keepalive     | 121   |
      | qos           | 3     |
      | clean_session | 2     |

  @rule-ap-code-6
  Scenario Outline: wifi_security out of range gets code 6 (<value>)
    When the app requests the device information
    And the app sends the broker configuration with qos set to 1
    And the app sends the network configuration with wifi_security set to <value>
    Then the reply has code 6 and header 4003

    Examples:
      | value |
      | 5     |
      | -1    |

  @profile @rule-ap-code-order
  Scenario Outline: Codes are checked in order 5, 2, 1, 6: two faults in one 4002 (<case>)
    When the app sends the broker configuration <faults>
    Then the reply has code <code> and header 4002

    Examples:
      | case                      | faults                                                                         | code |
      | missing before wrong type | without host and with port set to "x"                                          | 5    |
      | wrong type before length  | with port set to "x" and host set to "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh" | 2    |
      | length before range       | with host set to "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh" and keepalive set to 59 | 1    |

  @profile @rule-ap-code-order
  Scenario Outline: Codes 6 and 1 come before the order error 3 (<field> = <value>, no 4002 before)
    When the app sends the network configuration with <field> set to <value>
    Then the reply has code <code> and header 4003

    Examples:
      | field         | value | code |
      | wifi_security | 5     | 6    |
      | wifi_ssid     | ""    | 1    |

  @rule-ap-client-id @rule-session-connect
  Scenario: The optional clientId is what the plug connects with
    When the app requests the device information
    And the app sends the broker configuration with clientId set to "plugrig-client-7"
    Then the reply has code 0 and header 4002
    When the app sends the network configuration
    Then the plug connects to the broker within 10 s
    And the CONNECT packet carries the provisioned credentials, keepalive and clean session

  @profile @rule-ap-extra-fields
  Scenario: Unknown extra fields are ignored
    When the app sends the broker configuration with colour set to "blue"
    Then the reply has code 0 and header 4002

  @profile @rule-ap-extra-fields
  Scenario: Many unknown fields before the known ones are ignored
    When the app sends the broker configuration after 20 unknown fields
    Then the reply has code 0 and header 4002

  @profile @rule-ap-framing
  Scenario: A request split over two writes is answered
    When the app sends the device information request split over two writes
    Then the reply has code 0 and header 4001

  @rule-ap-reply-bytes
  Scenario: Every reply is one JSON object of at most 1024 bytes with no NUL byte
    When the app requests the device information
    And the app sends the broker configuration with host set to ""
    Then every AP reply was at most 1024 bytes with no NUL byte

  @profile @rule-ap-framing
  Scenario: A trailing newline is tolerated
    When the app sends the device information request with a trailing newline
    Then the reply has code 0 and header 4001

  @profile @rule-ap-framing
  Scenario: A trailing NUL is tolerated
    When the app sends the device information request with a trailing NUL
    Then the reply has code 0 and header 4001

  @profile @rule-ap-4001-any-time
  Scenario: 4001 is answered at any time, and leaves an accepted 4002 standing
    When the app requests the device information
    And the app sends the broker configuration with qos set to 1
    And the app requests the device information
    Then the reply has code 0 and header 4001
    When the app sends the network configuration
    Then the reply has code 0 and header 4003

  @profile @rule-ap-robust
  Scenario: Over 1024 bytes without a complete object: a code-1 reply or a close, then the next client is served
    When the app sends 1100 bytes that never complete an object
    Then the reply has code 1, or the plug closes the connection without one
    And the plug still answers 4001 on a new connection

  @profile @rule-ap-robust
  Scenario: Idle and half-open clients do not wedge the AP socket
    When 3 clients connect to the AP socket and send nothing
    And a client sends half a request and goes quiet
    Then the plug answers 4001 on a new connection within 60 s
