#include "decodesim/table.hpp"

#include <stdexcept>

namespace decodesim {

size_t Table::column_index(const std::string& column) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == column) return i;
  throw std::out_of_range("table " + name + " has no column " + column);
}

double Table::number(size_t row, const std::string& column) const {
  return std::get<double>(rows.at(row).at(column_index(column)));
}

const std::string& Table::text(size_t row, const std::string& column) const {
  return std::get<std::string>(rows.at(row).at(column_index(column)));
}

}  // namespace decodesim
