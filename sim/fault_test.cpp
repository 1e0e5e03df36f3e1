#include "sim/fault.h"

#include <doctest/doctest.h>

using namespace ask::sim;
using namespace std::chrono_literals;

TEST_CASE("parse_fault_spec: keys with and without values, commas or spaces") {
  auto spec = parse_fault_spec(
      "ttft=300ms, status=503 drop_after=3,hang_after=0 crash tps=12.5 think tool");
  REQUIRE(spec);
  CHECK(spec->ttft == 300ms);
  CHECK(spec->status == 503);
  CHECK(spec->drop_after == 3);
  CHECK(spec->hang_after == 0);
  CHECK(spec->crash);
  CHECK(spec->tps == 12.5);
  CHECK(spec->think);
  CHECK(spec->tool == "");
  CHECK(!spec->hang);
  CHECK(!spec->reset);
}

TEST_CASE("parse_fault_spec: quoted values keep their separators") {
  auto spec = parse_fault_spec(R"(repeat="all work, no play" tool='get weather' tokens=4)");
  REQUIRE(spec);
  CHECK(spec->repeat == "all work, no play");
  CHECK(spec->tool == "get weather");
  CHECK(spec->tokens == 4);
}

TEST_CASE("parse_fault_spec: an empty spec sets nothing") {
  auto spec = parse_fault_spec("  ,, ");
  REQUIRE(spec);
  CHECK(spec->empty());
}

TEST_CASE("parse_fault_spec: switches accept true/false") {
  CHECK(parse_fault_spec("hang=true")->hang);
  CHECK(!parse_fault_spec("hang=false")->hang);
  CHECK(!parse_fault_spec("hang=maybe"));
}

TEST_CASE("parse_fault_spec: malformed specs name the key and what was expected") {
  auto unknown = parse_fault_spec("stauts=503");
  REQUIRE(!unknown);
  CHECK(unknown.error().kind == ask::core::ErrorKind::bad_request);
  CHECK(unknown.error().message.find("unknown fault 'stauts'") != std::string::npos);
  CHECK(unknown.error().message.find("status") != std::string::npos); // lists the known ones
  CHECK(parse_fault_spec("status=abc").error().message.find("fault 'status'") != std::string::npos);
  CHECK(!parse_fault_spec("status=99"));
  CHECK(!parse_fault_spec("status=600"));
  CHECK(!parse_fault_spec("drop_after=-1"));
  CHECK(!parse_fault_spec("drop_after=3x"));
  CHECK(!parse_fault_spec("ttft=soon"));
  CHECK(!parse_fault_spec("ttft=forever"));
  CHECK(!parse_fault_spec("tps=-3"));
  CHECK(parse_fault_spec("repeat=").error().message.find("needs a value") != std::string::npos);
  CHECK(parse_fault_spec("repeat=\"open").error().message.find("unterminated quote") !=
        std::string::npos);
  CHECK(!parse_fault_spec("=5"));
}

TEST_CASE("FaultSpec::merge: set fields override, unset ones keep the base") {
  FaultSpec base = *parse_fault_spec("ttft=1s status=500 tokens=3");
  base.merge(*parse_fault_spec("status=429 retry_after=2"));
  CHECK(base.status == 429);
  CHECK(base.retry_after == 2);
  CHECK(base.ttft == 1s);
  CHECK(base.tokens == 3);
}

TEST_CASE("FaultSpec::to_string round-trips through the parser") {
  FaultSpec spec =
      *parse_fault_spec("ttft=250ms status=503 drop_after=2 repeat=\"a b\" tps=5 tool=x think");
  auto again = parse_fault_spec(spec.to_string());
  REQUIRE(again);
  CHECK(again->to_string() == spec.to_string());
  CHECK(again->repeat == "a b");
}

TEST_CASE("extract_directives: removes the directive and keeps the text as if it never was there") {
  DirectiveSplit d = extract_directives("Tell me a story [[sim: ttft=1s]]");
  CHECK(d.text == "Tell me a story");
  CHECK(d.spec == " ttft=1s");
  DirectiveSplit front = extract_directives("[[sim: hang]] Tell me a story");
  CHECK(front.text == "Tell me a story");
  DirectiveSplit two = extract_directives("a [[sim: tokens=2]] b [[sim: think]]");
  CHECK(two.text == "a b");
  REQUIRE(two.spec);
  CHECK(parse_fault_spec(*two.spec)->tokens == 2);
  CHECK(parse_fault_spec(*two.spec)->think);
}

TEST_CASE("extract_directives: text without a (complete) directive is unchanged") {
  CHECK(!extract_directives("plain text").spec);
  DirectiveSplit open = extract_directives("broken [[sim: hang");
  CHECK(open.text == "broken [[sim: hang");
  CHECK(!open.spec);
}
