// Certified-luminosity ("golden JSON") mask for data: which (run, luminosityBlock) pairs
// are good. A skim's graph compiles its golden JSON's ranges into one (analysis.skim
// lumi_mask_source), read-only in the event loop.
#ifndef TMET_LUMIMASK_H
#define TMET_LUMIMASK_H

#include <map>
#include <utility>
#include <vector>

namespace tmet {

class LumiMask {
public:
    void add(unsigned int run, unsigned int first, unsigned int last) { ranges_[run].emplace_back(first, last); }
    bool contains(unsigned int run, unsigned int lumi) const {
        auto it = ranges_.find(run);
        if (it == ranges_.end()) return false;
        for (const auto& r : it->second)
            if (lumi >= r.first && lumi <= r.second) return true;
        return false;
    }

private:
    std::map<unsigned int, std::vector<std::pair<unsigned int, unsigned int>>> ranges_;
};

}  // namespace tmet

#endif
