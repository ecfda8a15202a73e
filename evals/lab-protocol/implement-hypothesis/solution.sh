#!/bin/sh
# Reference solution (used by the test-suite to prove the case is solvable): one commit on lab/h-7.
set -e
git checkout -q -b lab/h-7
sed -i 's/^LR = 0.01$/LR = 0.005/' train.py
git commit -q -am "h-7: lower the learning rate to 0.005"
