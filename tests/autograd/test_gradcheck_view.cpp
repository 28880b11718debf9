// Gradchecks of the view ops. Each view is followed by an op that reads it element by element (mul by
// itself), so a wrong stride or offset in backward shows up as a wrong gradient.
#include "autograd/ops.h"
#include "support/gradcheck.h"

using namespace lat::autograd;
using lat::testing::Vars;

LAT_GRADCHECK("reshape", LAT_SHAPES({3, 4}), [](const Vars& in) {
  Variable r = reshape(in[0], {2, -1, 3});
  return mul(r, r);
})
LAT_GRADCHECK("reshape of a transposed (non-contiguous) input", LAT_SHAPES({3, 5}),
              [](const Vars& in) { return reshape(transpose(in[0], 0, 1), {15}); })
LAT_GRADCHECK("transpose", LAT_SHAPES({2, 3, 5}), [](const Vars& in) { return transpose(in[0], 0, 2); })
LAT_GRADCHECK("transpose size 1", LAT_SHAPES({1, 4}), [](const Vars& in) { return transpose(in[0], -1, -2); })
LAT_GRADCHECK("contiguous of a transpose", LAT_SHAPES({4, 3}), [](const Vars& in) {
  Variable c = contiguous(transpose(in[0], 0, 1));
  return mul(c, c);
})
LAT_GRADCHECK("slice", LAT_SHAPES({5, 3}), [](const Vars& in) { return slice(in[0], 0, 1, 4); })
LAT_GRADCHECK("slice of the last dim, then matmul", LAT_SHAPES({3, 7}, {4, 2}), [](const Vars& in) {
  return matmul(slice(in[0], -1, 2, 6), in[1]);  // slice is non-contiguous: matmul copies it
})
LAT_GRADCHECK("two slices of one input", LAT_SHAPES({6}),
              [](const Vars& in) { return mul(slice(in[0], 0, 0, 3), slice(in[0], 0, 3, 6)); })

LAT_GRADCHECK("shift_sequence", LAT_SHAPES({2, 5, 3}), [](const Vars& in) { return shift_sequence(in[0]); })
LAT_GRADCHECK("shift_sequence length 1", LAT_SHAPES({2, 1, 3}), [](const Vars& in) { return shift_sequence(in[0]); })
