// core/json: parse → dump round trips (key order, escapes, integers vs doubles, shortest round-trip doubles)
// and malformed text rejected with the source name and byte offset.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>

#include "core/json.h"
#include "support/temp_dir.h"

using lat::Json;
using lat::testing::error_of;

TEST_SUITE("core json") {
  TEST_CASE("objects keep key order and values round-trip through dump and parse") {
    const std::string text =
        R"({"zeta": 1, "alpha": [true, false, null], "s": "a\"b\\c\nd\u00e9\t", "x": -0.125, "e": 1e-300, "big": 9007199254740993, "nested": {"b": {}, "a": []}})";
    const Json j = Json::parse(text, "t");
    REQUIRE(j.members().size() == 7);
    CHECK(j.members()[0].first == "zeta");
    CHECK(j.members()[1].first == "alpha");
    CHECK(j.at("s").as_string("s") == "a\"b\\c\nd\xc3\xa9\t");
    CHECK(j.at("zeta").kind() == Json::Kind::integer);
    CHECK(j.at("x").kind() == Json::Kind::number);
    CHECK(j.at("big").as_int("big") == 9007199254740993LL);  // not rounded through a double
    CHECK(j.at("e").as_double("e") == 1e-300);
    const std::string once = j.dump();
    CHECK(once == R"({"zeta": 1, "alpha": [true, false, null], "s": "a\"b\\c\nd)"
                  "\xc3\xa9"
                  R"(\t", "x": -0.125, "e": 1e-300, "big": 9007199254740993, "nested": {"b": {}, "a": []}})");
    CHECK(Json::parse(once, "t2").dump() == once);
    CHECK(Json::parse(j.dump(2), "t3").dump() == once);
  }

  TEST_CASE("doubles are written in the shortest form that reads back to the same double") {
    for (double v : {0.1, 1.0 / 3, 2.0 / 3 * 1e-7, 6.02214076e23, 1e-3, 3e-3, 123456.789, -0.0, 1.0, 1e300}) {
      const std::string s = lat::json_double(v);
      CHECK(std::strtod(s.c_str(), nullptr) == v);
      CHECK(Json::parse(s, "n").as_double("n") == v);
      CHECK(Json::parse(s, "n").kind() == Json::Kind::number);  // stays a double, even 1.0
    }
    CHECK(lat::json_double(0.1) == "0.1");
    CHECK(lat::json_double(3e-3) == "0.003");
    CHECK(lat::json_double(1.0) == "1.0");
    CHECK(lat::json_double(std::nan("")) == "null");
    CHECK(Json(int64_t{42}).dump() == "42");
  }

  TEST_CASE("pretty output keeps arrays of scalars on one line and is deterministic") {
    Json j = Json::object();
    j.set("b", 1);
    j.set("a", Json::array());
    j.set("b", 2);  // replaced in place, order kept
    Json arr = Json::array();
    arr.push_back(1.5);
    arr.push_back("x");
    j.set("c", arr);
    CHECK(j.dump(2) == "{\n  \"b\": 2,\n  \"a\": [],\n  \"c\": [1.5, \"x\"]\n}");
  }

  TEST_CASE("malformed text names the source and the byte offset") {
    CHECK(error_of([] { Json::parse(R"({"a": 1,})", "run.json"); }) ==
          "run.json: byte 8: expected a key string");
    CHECK(error_of([] { Json::parse(R"({"a" 1})", "f"); }) == "f: byte 5: expected ':' after key \"a\"");
    CHECK(error_of([] { Json::parse("[1, 2", "f"); }) == "f: byte 5: expected ',' or ']' in an array");
    CHECK(error_of([] { Json::parse(R"("abc)", "f"); }) == "f: byte 4: unterminated string");
    CHECK(error_of([] { Json::parse("01", "f"); }) == "f: byte 0: leading zero in a number");
    CHECK(error_of([] { Json::parse("tru", "f"); }) == "f: byte 0: unexpected character 't'");
    CHECK(error_of([] { Json::parse("{} x", "f"); }) == "f: byte 3: unexpected text after the value");
    CHECK(error_of([] { Json::parse(R"({"a": 1, "a": 2})", "f"); }) == "f: byte 13: duplicate key \"a\"");
    CHECK(error_of([] { Json::parse(R"("\q")", "f"); }) == "f: byte 2: unknown escape '\\q'");
    CHECK(error_of([] { Json::parse("", "f"); }) == "f: byte 0: unexpected end of text, expected a value");
  }

  TEST_CASE("typed reads name the key, files name their path") {
    const Json j = Json::parse(R"({"lr": "fast", "n": 2.5})", "f");
    CHECK(error_of([&] { j.at("lr").as_double("lr"); }) == "lr should be a number, not a string");
    CHECK(error_of([&] { j.at("n").as_int("n"); }) == "n should be an integer, not 2.5");
    CHECK(error_of([&] { j.at("seed"); }) == "missing key \"seed\"");
    lat::testing::TempDir dir("study_json");
    const std::string path = dir.write("bad.json", "{\"a\": [1,, 2]}");
    CHECK(error_of([&] { Json::parse_file(path); }) == path + ": byte 9: unexpected character ','");
    CHECK(error_of([&] {
            Json::parse_file(dir / "absent.json");
          }).rfind("cannot open '" + dir / "absent.json", 0) == 0);
  }
}
