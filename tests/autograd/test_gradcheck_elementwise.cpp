#include "autograd/ops.h"
#include "support/gradcheck.h"

using namespace lat::autograd;
using lat::testing::Vars;

LAT_GRADCHECK("add", LAT_SHAPES({3, 5}, {3, 5}), [](const Vars& in) { return add(in[0], in[1]); })
LAT_GRADCHECK("mul", LAT_SHAPES({7}, {7}), [](const Vars& in) { return mul(in[0], in[1]); })
LAT_GRADCHECK("scale", LAT_SHAPES({2, 3}), [](const Vars& in) { return scale(in[0], -1.5); })
LAT_GRADCHECK("sum", LAT_SHAPES({1}), [](const Vars& in) { return sum(in[0]); })
LAT_GRADCHECK("mean", LAT_SHAPES({4, 3, 5}), [](const Vars& in) { return mean(in[0]); })
